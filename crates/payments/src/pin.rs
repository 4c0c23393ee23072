//! The payment PIN: how it is chosen, kept (only as a slow salted Argon2id hash), checked (in
//! constant time), locked after repeated wrong tries, and when policy asks for it at all.

use argon2::{Algorithm, Argon2, Params, Version};
use facepay_domain::{Secret, Timestamp};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A payment PIN is six digits, as on the face-payment kiosks shoppers know.
pub const PIN_DIGITS: usize = 6;
/// Wrong tries in a row that lock face payment for the shopper.
pub const PIN_TRIES_MAX: u8 = 5;
/// How long the lock lasts once tripped.
pub const PIN_LOCK_MS: i64 = 30 * 60 * 1000;

/// OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane): slow for a guesser, quick enough for a
/// till. Kept in the hash record so the parameters can be raised without breaking old hashes.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const HASH_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("a PIN is exactly {PIN_DIGITS} digits")]
    Malformed,
    #[error("this PIN is too easy to guess (all one digit, or a straight run)")]
    TooSimple,
    #[error("the PIN is wrong; {tries_left} tries left before face payment is locked")]
    Wrong { tries_left: u8 },
    #[error("too many wrong PINs; face payment is locked until {until:?}")]
    Locked { until: Timestamp },
    #[error("no PIN is set; choose one first")]
    NotSet,
    #[error("send the current PIN to change it")]
    CurrentRequired,
}

impl PinError {
    pub fn code(&self) -> &'static str {
        match self {
            PinError::Malformed => "pin_malformed",
            PinError::TooSimple => "pin_too_simple",
            PinError::Wrong { .. } => "pin_wrong",
            PinError::Locked { .. } => "pin_locked",
            PinError::NotSet => "pin_not_set",
            PinError::CurrentRequired => "pin_current_required",
        }
    }
}

/// A PIN as typed, checked for shape; the digits are wiped when it is dropped.
#[derive(Debug)]
pub struct Pin(Secret<String>);

impl Pin {
    pub fn parse(typed: &str) -> Result<Pin, PinError> {
        let digits = typed.as_bytes();
        if digits.len() != PIN_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
            return Err(PinError::Malformed);
        }
        Ok(Pin(Secret::new(typed.to_owned())))
    }

    /// `parse`, and also refuse the PINs a thief tries first, for a PIN being set.
    pub fn choose(typed: &str) -> Result<Pin, PinError> {
        let pin = Pin::parse(typed)?;
        let digits: Vec<i16> = typed.bytes().map(|b| i16::from(b - b'0')).collect();
        let steps: Vec<i16> = digits.windows(2).map(|w| w[1] - w[0]).collect();
        let one_step_throughout = steps.iter().all(|&s| s == steps[0]) && steps[0].abs() <= 1;
        if one_step_throughout {
            return Err(PinError::TooSimple);
        }
        Ok(pin)
    }
}

/// What is stored: the Argon2id hash of the PIN with its salt and parameters, never the PIN.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinHash {
    salt: [u8; 16],
    memory_kib: u32,
    passes: u32,
    hash: [u8; HASH_BYTES],
}

impl std::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHash(<redacted>)")
    }
}

impl PinHash {
    /// Hashes `pin` with `salt`, which the caller draws from its injected random source.
    pub fn new(pin: &Pin, salt: [u8; 16]) -> PinHash {
        let hash = derive(pin, &salt, ARGON2_MEMORY_KIB, ARGON2_PASSES);
        PinHash { salt, memory_kib: ARGON2_MEMORY_KIB, passes: ARGON2_PASSES, hash }
    }

    /// The hash as bytes, to be sealed under the shopper's key:
    /// `salt (16) | memory KiB (u32 LE) | passes (u32 LE) | hash`.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.salt[..], &self.memory_kib.to_le_bytes(), &self.passes.to_le_bytes(), &self.hash].concat()
    }

    /// A hash from [`PinHash::to_bytes`]; none when the bytes are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<PinHash> {
        let (salt, rest) = bytes.split_first_chunk::<16>()?;
        let (memory_kib, rest) = rest.split_first_chunk::<4>()?;
        let (passes, hash) = rest.split_first_chunk::<4>()?;
        Some(PinHash {
            salt: *salt,
            memory_kib: u32::from_le_bytes(*memory_kib),
            passes: u32::from_le_bytes(*passes),
            hash: hash.try_into().ok()?,
        })
    }

    /// Constant time in the PIN's content: the comparison never stops at the first differing byte.
    pub fn matches(&self, pin: &Pin) -> bool {
        let mut candidate = derive(pin, &self.salt, self.memory_kib, self.passes);
        let equal = candidate.ct_eq(&self.hash).into();
        candidate.zeroize();
        equal
    }
}

fn derive(pin: &Pin, salt: &[u8; 16], memory_kib: u32, passes: u32) -> [u8; HASH_BYTES] {
    let params =
        Params::new(memory_kib, passes, 1, Some(HASH_BYTES)).expect("the parameters are valid constants");
    let mut out = [0u8; HASH_BYTES];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.0.expose_secret().as_bytes(), salt, &mut out)
        .expect("a 6-byte password, a 16-byte salt and a 32-byte output are within Argon2's limits");
    out
}

/// The wrong-try counter and lock of one shopper's PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PinGuard {
    wrong_in_a_row: u8,
    locked_until: Option<Timestamp>,
}

impl PinGuard {
    /// Checks `pin` against `hash` at `now`, counting wrong tries. While locked, nothing is
    /// compared at all, so a locked account cannot be used as a guessing oracle.
    pub fn verify(&mut self, hash: &PinHash, pin: &Pin, now: Timestamp) -> Result<(), PinError> {
        let matched = !self.is_locked(now) && hash.matches(pin);
        self.record(matched, now)
    }

    /// Counts one try whose comparison gave `matched`; a try while locked counts for nothing.
    pub fn record(&mut self, matched: bool, now: Timestamp) -> Result<(), PinError> {
        if let Some(until) = self.locked_until {
            if now < until {
                return Err(PinError::Locked { until });
            }
            *self = PinGuard::default();
        }
        if matched {
            *self = PinGuard::default();
            return Ok(());
        }
        self.wrong_in_a_row += 1;
        if self.wrong_in_a_row >= PIN_TRIES_MAX {
            let until = now.plus_ms(PIN_LOCK_MS);
            self.locked_until = Some(until);
            return Err(PinError::Locked { until });
        }
        Err(PinError::Wrong { tries_left: PIN_TRIES_MAX - self.wrong_in_a_row })
    }

    pub fn is_locked(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }
}

/// When a payment must be confirmed with the PIN. The tightest applicable rule wins: any one
/// that asks, asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPolicy {
    pub always: bool,
    /// Ask when the amount (minor units) is above this.
    pub above_amount_minor: Option<i64>,
    /// Ask when the risk rules raised a step-up.
    pub on_elevated_risk: bool,
}

impl PinPolicy {
    pub fn requires_pin(&self, amount_minor: i64, risk_elevated: bool) -> bool {
        self.always
            || self.above_amount_minor.is_some_and(|limit| amount_minor > limit)
            || (self.on_elevated_risk && risk_elevated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; 16] = *b"fixed test salt!";

    #[test]
    fn a_pin_is_six_digits_and_not_an_obvious_one() {
        for bad in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "12 456"] {
            assert_eq!(Pin::parse(bad).unwrap_err(), PinError::Malformed, "{bad:?}");
        }
        for obvious in ["000000", "999999", "123456", "654321", "345678"] {
            assert_eq!(Pin::choose(obvious).unwrap_err().code(), "pin_too_simple", "{obvious}");
        }
        assert!(Pin::choose("135790").is_ok());
        // An obvious PIN set elsewhere can still be typed at the till.
        assert!(Pin::parse("123456").is_ok());
    }

    #[test]
    fn the_hash_matches_only_its_pin_and_differs_per_salt() {
        let pin = Pin::choose("271828").unwrap();
        let hash = PinHash::new(&pin, SALT);
        assert!(hash.matches(&Pin::parse("271828").unwrap()));
        assert!(!hash.matches(&Pin::parse("271829").unwrap()));
        assert_ne!(hash, PinHash::new(&pin, *b"another salt 16b"));
        assert_eq!(format!("{hash:?}"), "PinHash(<redacted>)");
        assert!(!format!("{pin:?}").contains("271828"));
    }

    #[test]
    fn a_hash_survives_its_bytes_and_refuses_bytes_of_another_length() {
        let hash = PinHash::new(&Pin::choose("271828").unwrap(), SALT);
        let bytes = hash.to_bytes();
        assert_eq!(PinHash::from_bytes(&bytes), Some(hash.clone()));
        assert!(PinHash::from_bytes(&bytes).unwrap().matches(&Pin::parse("271828").unwrap()));
        assert_eq!(PinHash::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(PinHash::from_bytes(&[bytes.as_slice(), &[0]].concat()), None);
    }

    #[test]
    fn five_wrong_tries_lock_for_the_cool_down_and_a_right_one_resets_the_count() {
        let hash = PinHash::new(&Pin::choose("271828").unwrap(), SALT);
        let right = Pin::parse("271828").unwrap();
        let wrong = Pin::parse("000000").unwrap();
        let mut guard = PinGuard::default();
        let t0 = Timestamp::from_unix_ms(1_000);

        for tries_left in [4, 3] {
            assert_eq!(guard.verify(&hash, &wrong, t0), Err(PinError::Wrong { tries_left }));
        }
        assert_eq!(guard.verify(&hash, &right, t0), Ok(()));
        for tries_left in [4, 3, 2, 1] {
            assert_eq!(guard.verify(&hash, &wrong, t0), Err(PinError::Wrong { tries_left }));
        }
        let until = t0.plus_ms(PIN_LOCK_MS);
        assert_eq!(guard.verify(&hash, &wrong, t0), Err(PinError::Locked { until }));
        assert!(guard.is_locked(t0));
        // While locked even the right PIN is refused.
        assert_eq!(guard.verify(&hash, &right, until.plus_ms(-1)), Err(PinError::Locked { until }));
        assert_eq!(guard.verify(&hash, &right, until), Ok(()));
        assert!(!guard.is_locked(until));
        assert_eq!(guard.verify(&hash, &wrong, until), Err(PinError::Wrong { tries_left: 4 }));
    }

    #[test]
    fn the_policy_asks_when_any_rule_asks() {
        let never = PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false };
        assert!(!never.requires_pin(1_000_000, true));
        assert!(PinPolicy { always: true, ..never }.requires_pin(1, false));
        let above = PinPolicy { above_amount_minor: Some(5_000), ..never };
        assert!(!above.requires_pin(5_000, false));
        assert!(above.requires_pin(5_001, false));
        let on_risk = PinPolicy { on_elevated_risk: true, ..never };
        assert!(!on_risk.requires_pin(1, false));
        assert!(on_risk.requires_pin(1, true));
    }
}
