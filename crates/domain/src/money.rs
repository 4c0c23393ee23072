//! Money as an integer count of a currency's minor unit (cents, fen, yen), so that every sum in the
//! ledger is exact and every comparison is total. There is no float anywhere on the money path.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic code (three upper-case ASCII letters), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Why a currency code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency code {0:?} is not three upper-case ASCII letters (ISO 4217, e.g. \"EUR\")")]
pub struct CurrencyError(pub String);

impl Currency {
    /// Parses an ISO 4217 alphabetic code such as `"EUR"`.
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        let bytes = code.as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_uppercase) => Ok(Self([*a, *b, *c])),
            _ => Err(CurrencyError(code.to_owned())),
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The constructor admits only ASCII upper-case letters.
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// The ISO 4217 numeric code, which bank messages carry (ISO 8583's field 49), for the
    /// currencies a switch is likely to run in; `None` for any other.
    pub fn numeric(&self) -> Option<u16> {
        self.listed().map(|(_, numeric, _)| numeric)
    }

    /// How many decimal places its minor unit is (2 for EUR's cents, 0 for JPY), for the
    /// currencies `numeric` knows; what a statement that writes decimal amounts needs.
    pub fn minor_digits(&self) -> Option<u32> {
        self.listed().map(|(_, _, digits)| digits)
    }

    fn listed(&self) -> Option<(&'static str, u16, u32)> {
        ISO_4217.iter().find(|(code, _, _)| *code == self.code()).copied()
    }
}

/// Code, numeric code and minor-unit digits, from ISO 4217's list.
const ISO_4217: [(&str, u16, u32); 34] = [
    ("AED", 784, 2),
    ("AUD", 36, 2),
    ("BRL", 986, 2),
    ("CAD", 124, 2),
    ("CHF", 756, 2),
    ("CNY", 156, 2),
    ("CZK", 203, 2),
    ("DKK", 208, 2),
    ("EUR", 978, 2),
    ("GBP", 826, 2),
    ("HKD", 344, 2),
    ("HUF", 348, 2),
    ("IDR", 360, 2),
    ("ILS", 376, 2),
    ("INR", 356, 2),
    ("JPY", 392, 0),
    ("KRW", 410, 0),
    ("MXN", 484, 2),
    ("MYR", 458, 2),
    ("NOK", 578, 2),
    ("NZD", 554, 2),
    ("PHP", 608, 2),
    ("PLN", 985, 2),
    ("RUB", 643, 2),
    ("SAR", 682, 2),
    ("SEK", 752, 2),
    ("SGD", 702, 2),
    ("THB", 764, 2),
    ("TRY", 949, 2),
    ("TWD", 901, 2),
    ("USD", 840, 2),
    ("VND", 704, 0),
    ("ZAR", 710, 2),
    ("MOP", 446, 2),
];

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::new(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of one currency in its minor unit. Negative amounts exist (a balance, a net
/// position); whether one is allowed is decided where it is used, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Why two amounts could not be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {left} with {right}: different currencies")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount overflows a 64-bit count of minor units")]
    Overflow,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self { amount_minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount_minor = self.amount_minor.checked_add(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount_minor, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount_minor = self.amount_minor.checked_sub(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount_minor, self.currency))
    }

    pub fn is_positive(&self) -> bool {
        self.amount_minor > 0
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    #[test]
    fn common_currencies_have_their_numeric_codes() {
        let numeric = |code| Currency::new(code).unwrap().numeric();
        assert_eq!((numeric("EUR"), numeric("CNY"), numeric("AUD")), (Some(978), Some(156), Some(36)));
        assert_eq!(numeric("XTS"), None, "the testing code is not one a switch runs in");
        let digits = |code| Currency::new(code).unwrap().minor_digits();
        assert_eq!(
            (digits("EUR"), digits("CNY"), digits("JPY"), digits("XTS")),
            (Some(2), Some(2), Some(0), None)
        );
    }

    #[test]
    fn currency_accepts_only_three_upper_case_letters() {
        assert_eq!(eur().code(), "EUR");
        for bad in ["", "EU", "EURO", "eur", "E1R", "ÉUR"] {
            assert_eq!(Currency::new(bad), Err(CurrencyError(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn currency_round_trips_through_serde_and_rejects_bad_codes() {
        assert_eq!(serde_json::to_string(&eur()).unwrap(), "\"EUR\"");
        assert_eq!(serde_json::from_str::<Currency>("\"EUR\"").unwrap(), eur());
        assert!(serde_json::from_str::<Currency>("\"usd\"").is_err());
    }

    #[test]
    fn adding_and_subtracting_stays_exact() {
        let a = Money::new(1_999, eur());
        let b = Money::new(1, eur());
        assert_eq!(a.checked_add(b), Ok(Money::new(2_000, eur())));
        assert_eq!(b.checked_sub(a), Ok(Money::new(-1_998, eur())));
    }

    #[test]
    fn mixing_currencies_is_refused() {
        let usd = Currency::new("USD").unwrap();
        let err = Money::new(1, eur()).checked_add(Money::new(1, usd)).unwrap_err();
        assert_eq!(err, MoneyError::CurrencyMismatch { left: eur(), right: usd });
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(Money::new(i64::MAX, eur()).checked_add(Money::new(1, eur())), Err(MoneyError::Overflow));
        assert_eq!(Money::new(i64::MIN, eur()).checked_sub(Money::new(1, eur())), Err(MoneyError::Overflow));
    }
}
