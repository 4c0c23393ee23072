//! A point in time as milliseconds since the Unix epoch (UTC). The core never asks the system
//! for the time: an injected clock hands it a `Timestamp`, so a simulation can replay any run.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp {
    pub unix_ms: i64,
}

impl Timestamp {
    pub const fn from_unix_ms(unix_ms: i64) -> Self {
        Self { unix_ms }
    }

    /// This instant moved forward by `duration_ms` (saturating: time never wraps).
    pub const fn plus_ms(self, duration_ms: i64) -> Self {
        Self { unix_ms: self.unix_ms.saturating_add(duration_ms) }
    }

    /// Milliseconds from `earlier` to `self`; negative when `earlier` is later.
    pub const fn ms_since(self, earlier: Timestamp) -> i64 {
        self.unix_ms.saturating_sub(earlier.unix_ms)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.unix_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Timestamp::from_unix_ms(1_000);
        assert_eq!(t.plus_ms(500).ms_since(t), 500);
        assert_eq!(t.ms_since(t.plus_ms(250)), -250);
        assert_eq!(Timestamp::from_unix_ms(i64::MAX).plus_ms(1), Timestamp::from_unix_ms(i64::MAX));
    }
}
