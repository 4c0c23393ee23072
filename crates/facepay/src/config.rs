//! facepay's configuration, read once from the environment at start-up and passed down.

use std::path::PathBuf;

/// Where facepay keeps its state and which database it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `FACEPAY_DATA_DIR`, default `facepay-data` in the working directory.
    pub data_dir: PathBuf,
    pub database: Database,
    pub keys: KeyLocation,
    pub settlement: Settlement,
}

/// When a settlement day ends and where `serve` writes each finished day's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// `FACEPAY_SETTLEMENT_CUTOFF`, `HH:MM` in UTC, default `00:00`: a day named D runs from D's
    /// cut-off to D+1's.
    pub cutoff_minutes: u32,
    /// `FACEPAY_SETTLEMENT_DIR`, default `settlement` in the data dir.
    pub dir: PathBuf,
}

/// Where the operator's keys (the master keys and the pseudonym key) come from: never the
/// database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// `FACEPAY_KEY_FILE`, default `facepay.keys` in the data dir (mode 0600). Keep it off the
    /// database's disk and out of its backups where you can.
    File(PathBuf),
    /// `FACEPAY_KEYS`: the key file's text itself, for secret stores that hand out variables.
    /// Rotation needs a file.
    Environment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded default: one SQLite file.
    Sqlite { path: PathBuf },
    /// A PostgreSQL server; the URL is kept whole for connecting and redacted for display.
    Postgres { url: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "FACEPAY_DATABASE_URL must start with sqlite:// or postgres:// (or postgresql://), got {scheme:?}"
    )]
    UnsupportedDatabase { scheme: String },
    #[error("FACEPAY_DATABASE_URL sqlite:// needs a file path after the scheme")]
    EmptySqlitePath,
    #[error("FACEPAY_SETTLEMENT_CUTOFF must be a UTC time of day written HH:MM (00:00 to 23:59), got {0:?}")]
    SettlementCutoff(String),
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::UnsupportedDatabase { .. } => "config_database_unsupported",
            ConfigError::EmptySqlitePath => "config_database_empty_path",
            ConfigError::SettlementCutoff(_) => "config_settlement_cutoff_malformed",
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = Config::from_values(read("FACEPAY_DATA_DIR"), read("FACEPAY_DATABASE_URL"))?;
        if let Some(file) = read("FACEPAY_KEY_FILE") {
            config.keys = KeyLocation::File(PathBuf::from(file));
        }
        if read("FACEPAY_KEYS").is_some() {
            config.keys = KeyLocation::Environment;
        }
        if let Some(cutoff) = read("FACEPAY_SETTLEMENT_CUTOFF") {
            config.settlement.cutoff_minutes = cutoff_minutes(&cutoff)?;
        }
        if let Some(dir) = read("FACEPAY_SETTLEMENT_DIR") {
            config.settlement.dir = PathBuf::from(dir);
        }
        Ok(config)
    }

    fn from_values(data_dir: Option<String>, database_url: Option<String>) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(data_dir.unwrap_or_else(|| "facepay-data".to_owned()));
        let database = match database_url {
            None => Database::Sqlite { path: data_dir.join("facepay.sqlite3") },
            Some(url) => Database::parse(&url)?,
        };
        let keys = KeyLocation::File(data_dir.join("facepay.keys"));
        let settlement = Settlement { cutoff_minutes: 0, dir: data_dir.join("settlement") };
        Ok(Config { data_dir, database, keys, settlement })
    }
}

/// `HH:MM` as minutes after midnight.
fn cutoff_minutes(text: &str) -> Result<u32, ConfigError> {
    let refused = || ConfigError::SettlementCutoff(text.chars().take(16).collect());
    let (hours, minutes) = text.trim().split_once(':').ok_or_else(refused)?;
    let two_digits = |part: &str| -> Option<u32> {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse().ok()).flatten()
    };
    match (two_digits(hours), two_digits(minutes)) {
        (Some(hours), Some(minutes)) if hours < 24 && minutes < 60 => Ok(hours * 60 + minutes),
        _ => Err(refused()),
    }
}

impl Database {
    fn parse(url: &str) -> Result<Database, ConfigError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::EmptySqlitePath);
            }
            return Ok(Database::Sqlite { path: PathBuf::from(path) });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres { url: url.to_owned() });
        }
        let scheme = url.split("://").next().unwrap_or(url);
        // Only the scheme goes into the error: the rest may hold a password.
        Err(ConfigError::UnsupportedDatabase { scheme: scheme.chars().take(32).collect() })
    }

    /// What `doctor` prints: the kind and location, with any password replaced by `***`.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { path } => format!("SQLite file {} (embedded default)", path.display()),
            Database::Postgres { url } => format!("PostgreSQL {}", redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_an_sqlite_file_in_the_data_dir() {
        let config = Config::from_values(None, None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("facepay-data"));
        assert_eq!(config.database, Database::Sqlite { path: PathBuf::from("facepay-data/facepay.sqlite3") });
        let config = Config::from_values(Some("/srv/fp".into()), None).unwrap();
        assert_eq!(config.database, Database::Sqlite { path: PathBuf::from("/srv/fp/facepay.sqlite3") });
    }

    #[test]
    fn database_urls_are_parsed_and_passwords_never_shown() {
        let pg = Database::parse("postgres://facepay:hunter2@127.0.0.1:5432/test").unwrap();
        let shown = pg.describe();
        assert_eq!(shown, "PostgreSQL postgres://facepay:***@127.0.0.1:5432/test");
        let no_password = Database::parse("postgresql://facepay@db/test").unwrap();
        assert_eq!(no_password.describe(), "PostgreSQL postgresql://facepay@db/test");
        assert_eq!(
            Database::parse("sqlite:///var/lib/facepay.db").unwrap(),
            Database::Sqlite { path: PathBuf::from("/var/lib/facepay.db") }
        );
    }

    #[test]
    fn bad_database_urls_are_refused_with_a_code_and_without_echoing_secrets() {
        let err = Database::parse("mysql://root:hunter2@db/test").unwrap_err();
        assert_eq!(err.code(), "config_database_unsupported");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(Database::parse("sqlite://").unwrap_err(), ConfigError::EmptySqlitePath);
    }

    #[test]
    fn the_settlement_cut_off_is_a_time_of_day() {
        assert_eq!(
            (cutoff_minutes("00:00"), cutoff_minutes("22:30"), cutoff_minutes("23:59")),
            (Ok(0), Ok(1_350), Ok(1_439))
        );
        for bad in ["24:00", "12:60", "7:00", "07:5", "0700", "ab:cd", "-1:00", ""] {
            assert_eq!(
                cutoff_minutes(bad).unwrap_err().code(),
                "config_settlement_cutoff_malformed",
                "{bad}"
            );
        }
        assert_eq!(
            Config::from_values(Some("/srv/fp".into()), None).unwrap().settlement.dir,
            PathBuf::from("/srv/fp/settlement")
        );
    }
}
