//! Dynamic payment codes: what a shopper shows (as a QR code or its digits) when the face does
//! not work or they refused face payment. The shopper's app asks for a code, the terminal scans
//! it; the code names the shopper for one payment and lapses within a minute.
//!
//! The core keeps only each code's SHA-256 (the API hashes it) with its holder and its lapse
//! time, at most one live code per shopper: asking for a new code retires the old one.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

use facepay_domain::{ShopperId, Timestamp};

use crate::access::SecretHash;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct PaymentCodes {
    by_hash: HashMap<SecretHash, (ShopperId, Timestamp)>,
    by_shopper: HashMap<ShopperId, SecretHash>,
    /// Live codes by the time they lapse, so a sweep touches only the lapsed.
    by_lapse: BTreeSet<(Timestamp, SecretHash)>,
}

impl PaymentCodes {
    /// `shopper`'s new code, in place of any earlier one.
    pub(crate) fn issue(&mut self, shopper: ShopperId, code_hash: SecretHash, expires_at: Timestamp) {
        self.retire(shopper);
        self.by_hash.insert(code_hash, (shopper, expires_at));
        self.by_shopper.insert(shopper, code_hash);
        self.by_lapse.insert((expires_at, code_hash));
    }

    /// Spends the code: its holder if it was live at `now`. Spent or lapsed, it is gone either
    /// way, so a code never pays twice.
    pub(crate) fn redeem(&mut self, code_hash: &SecretHash, now: Timestamp) -> Option<ShopperId> {
        let (shopper, expires_at) = self.by_hash.remove(code_hash)?;
        self.by_shopper.remove(&shopper);
        self.by_lapse.remove(&(expires_at, *code_hash));
        (now < expires_at).then_some(shopper)
    }

    pub(crate) fn retire(&mut self, shopper: ShopperId) {
        if let Some(old) = self.by_shopper.remove(&shopper)
            && let Some((_, expires_at)) = self.by_hash.remove(&old)
        {
            self.by_lapse.remove(&(expires_at, old));
        }
    }

    /// When the next live code lapses.
    pub(crate) fn next_lapse(&self) -> Option<Timestamp> {
        self.by_lapse.first().map(|&(at, _)| at)
    }

    /// Drops the codes that lapsed by `now`, so unused codes do not pile up.
    pub(crate) fn sweep(&mut self, now: Timestamp) {
        while let Some(&(expires_at, code_hash)) = self.by_lapse.first()
            && expires_at <= now
        {
            self.by_lapse.pop_first();
            if let Some((shopper, _)) = self.by_hash.remove(&code_hash) {
                self.by_shopper.remove(&shopper);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_pays_once_before_it_lapses_and_a_new_code_retires_the_old() {
        let alice = ShopperId::from_u128(1);
        let mut codes = PaymentCodes::default();
        codes.issue(alice, [1; 32], Timestamp::from_unix_ms(100));
        assert_eq!(codes.redeem(&[1; 32], Timestamp::from_unix_ms(99)), Some(alice));
        assert_eq!(codes.redeem(&[1; 32], Timestamp::from_unix_ms(99)), None, "spent");

        codes.issue(alice, [2; 32], Timestamp::from_unix_ms(100));
        codes.issue(alice, [3; 32], Timestamp::from_unix_ms(100));
        assert_eq!(codes.redeem(&[2; 32], Timestamp::from_unix_ms(1)), None, "retired");
        assert_eq!(codes.redeem(&[3; 32], Timestamp::from_unix_ms(100)), None, "lapsed at its time");

        codes.issue(alice, [4; 32], Timestamp::from_unix_ms(100));
        codes.sweep(Timestamp::from_unix_ms(100));
        assert_eq!(codes, PaymentCodes::default(), "the sweep leaves nothing behind");
    }
}
