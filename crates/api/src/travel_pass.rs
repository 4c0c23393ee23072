//! Travel passes: what lets a gate decide without the switch. Face matching needs the switch
//! (templates never leave it) and a payment code is only a hash the core holds, so a gate cut
//! off from the switch can check nothing of either; a travel pass it checks alone.
//!
//! A rider's phone makes an Ed25519 key that never leaves it and asks the switch for a pass:
//! the switch signs who the rider is, the phone's public key and when the pass lapses. At a
//! gate the phone shows the pass with the moment it is shown, signed by its own key, so a
//! picture of the screen is good for `SHOWN_WITHIN_MS` at most, and one showing opens one
//! barrier (the core refuses a showing twice). The gate checks both signatures with the
//! switch's public key from its offline pack, and the rider against the pack's deny list.
//!
//! Layouts (integers big-endian), sent as unpadded base64url:
//! - pass: `1 | rider (16) | phone's public key (32) | lapses at, unix ms (8) | switch's
//!   signature (64)` over `PASS_CONTEXT` and the 57 bytes before it;
//! - showing: `pass (121) | shown at, unix ms (8) | phone's signature (64)` over
//!   `SHOWN_CONTEXT`, the pass and the time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use facepay_domain::{Secret, ShopperId, Timestamp};
use sha2::{Digest, Sha256};

/// How long a pass stays good: a phone offline for a week still gets riders through.
pub const PASS_VALID_MS: i64 = 7 * 86_400_000;
/// How far a showing's time may be from the gate's clock (phones and gates keep network time).
pub const SHOWN_WITHIN_MS: i64 = 90_000;

const VERSION: u8 = 1;
const PASS_CONTEXT: &[u8] = b"facepay travel pass v1\n";
const SHOWN_CONTEXT: &[u8] = b"facepay travel pass shown v1\n";
const SIGNED_LEN: usize = 1 + 16 + 32 + 8;
const PASS_LEN: usize = SIGNED_LEN + 64;
const SHOWING_LEN: usize = PASS_LEN + 8 + 64;

/// The switch's pass key, the same on every node (derived from the key file).
pub struct PassKey {
    signing: SigningKey,
}

impl std::fmt::Debug for PassKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassKey").field("public", &URL_SAFE_NO_PAD.encode(self.public_key())).finish()
    }
}

/// A showing whose signatures hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub rider: ShopperId,
    pub shown_at: Timestamp,
    pub lapses_at: Timestamp,
    /// SHA-256 of the whole showing: the core refuses a second passage with it.
    pub digest: [u8; 32],
}

impl PassKey {
    pub fn from_seed(seed: &Secret<[u8; 32]>) -> PassKey {
        PassKey { signing: SigningKey::from_bytes(seed.expose_secret()) }
    }

    /// What gates check passes with.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// A pass for `rider`'s phone, whose key is `phone`.
    pub fn issue(&self, rider: ShopperId, phone: &VerifyingKey, lapses_at: Timestamp) -> String {
        let mut pass = Vec::with_capacity(PASS_LEN);
        pass.push(VERSION);
        pass.extend_from_slice(&rider.as_u128().to_be_bytes());
        pass.extend_from_slice(phone.as_bytes());
        pass.extend_from_slice(&lapses_at.unix_ms.to_be_bytes());
        let signature = self.signing.sign(&[PASS_CONTEXT, &pass].concat());
        pass.extend_from_slice(&signature.to_bytes());
        URL_SAFE_NO_PAD.encode(pass)
    }

    /// The showing's rider and times, once both signatures hold and the pass had not lapsed
    /// when shown. When it was shown is for the caller to weigh.
    pub fn check(&self, showing: &str) -> Result<Shown, PassRefused> {
        let bytes = URL_SAFE_NO_PAD.decode(showing.trim()).map_err(|_| PassRefused::Malformed)?;
        if bytes.len() != SHOWING_LEN || bytes[0] != VERSION {
            return Err(PassRefused::Malformed);
        }
        let (pass, rest) = bytes.split_at(PASS_LEN);
        let (signed, switch_signature) = pass.split_at(SIGNED_LEN);
        let switch_signature = Signature::from_slice(switch_signature).map_err(|_| PassRefused::Malformed)?;
        self.signing
            .verifying_key()
            .verify(&[PASS_CONTEXT, signed].concat(), &switch_signature)
            .map_err(|_| PassRefused::Forged)?;
        let rider = ShopperId::from_u128(u128::from_be_bytes(signed[1..17].try_into().expect("16 bytes")));
        let phone_key: [u8; 32] = signed[17..49].try_into().expect("32 bytes");
        let lapses_at =
            Timestamp::from_unix_ms(i64::from_be_bytes(signed[49..57].try_into().expect("8 bytes")));
        let (shown_at, phone_signature) = rest.split_at(8);
        let phone_signature = Signature::from_slice(phone_signature).map_err(|_| PassRefused::Malformed)?;
        let phone = VerifyingKey::from_bytes(&phone_key).map_err(|_| PassRefused::Forged)?;
        phone
            .verify(&[SHOWN_CONTEXT, pass, shown_at].concat(), &phone_signature)
            .map_err(|_| PassRefused::Forged)?;
        let shown_at = Timestamp::from_unix_ms(i64::from_be_bytes(shown_at.try_into().expect("8 bytes")));
        if shown_at >= lapses_at {
            return Err(PassRefused::Lapsed);
        }
        Ok(Shown { rider, shown_at, lapses_at, digest: Sha256::digest(&bytes).into() })
    }
}

/// What the rider's phone shows at a gate: `pass` shown at `shown_at`, signed with the phone's
/// key (the pages do the same in the browser; this is for Rust clients and tests).
pub fn show(pass: &str, phone: &SigningKey, shown_at: Timestamp) -> Result<String, PassRefused> {
    let mut bytes = URL_SAFE_NO_PAD.decode(pass.trim()).map_err(|_| PassRefused::Malformed)?;
    if bytes.len() != PASS_LEN {
        return Err(PassRefused::Malformed);
    }
    bytes.extend_from_slice(&shown_at.unix_ms.to_be_bytes());
    let signature = phone.sign(&[SHOWN_CONTEXT, &bytes].concat());
    bytes.extend_from_slice(&signature.to_bytes());
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Why a showing opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRefused {
    Malformed,
    /// A signature does not hold: not a pass this switch issued, or not shown by its phone.
    Forged,
    Lapsed,
    /// Shown too long before (or after) the gate saw it: a picture of someone's screen.
    ShownAtOtherTime,
}

impl PassRefused {
    pub fn code(self) -> &'static str {
        match self {
            PassRefused::Malformed => "pass_malformed",
            PassRefused::Forged => "pass_forged",
            PassRefused::Lapsed => "pass_lapsed",
            PassRefused::ShownAtOtherTime => "pass_shown_at_other_time",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            PassRefused::Malformed => "This is not a travel pass.",
            PassRefused::Forged => "This pass was not issued here.",
            PassRefused::Lapsed => "This pass has lapsed: open your travel page to renew it.",
            PassRefused::ShownAtOtherTime => "Show the pass live from your phone.",
        }
    }
}

impl Shown {
    /// Refuses a showing made more than `SHOWN_WITHIN_MS` from `at`.
    pub fn shown_near(self, at: Timestamp) -> Result<Shown, PassRefused> {
        if self.shown_at.ms_since(at).abs() <= SHOWN_WITHIN_MS {
            Ok(self)
        } else {
            Err(PassRefused::ShownAtOtherTime)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn showing_at(pass: &str, phone: &SigningKey, at_ms: i64) -> String {
        show(pass, phone, Timestamp::from_unix_ms(at_ms)).unwrap()
    }

    fn key(byte: u8) -> PassKey {
        PassKey::from_seed(&Secret::new([byte; 32]))
    }

    #[test]
    fn a_showing_names_its_rider_and_each_forgery_is_refused() {
        let switch = key(7);
        let phone = SigningKey::from_bytes(&[9; 32]);
        let rider = ShopperId::from_u128(42);
        let pass = switch.issue(rider, &phone.verifying_key(), Timestamp::from_unix_ms(10_000));
        let showing = showing_at(&pass, &phone, 5_000);
        let shown = switch.check(&showing).unwrap();
        assert_eq!((shown.rider, shown.shown_at.unix_ms, shown.lapses_at.unix_ms), (rider, 5_000, 10_000));
        assert_eq!(shown.shown_near(Timestamp::from_unix_ms(5_000 + SHOWN_WITHIN_MS)), Ok(shown));
        assert_eq!(
            shown.shown_near(Timestamp::from_unix_ms(5_001 + SHOWN_WITHIN_MS)),
            Err(PassRefused::ShownAtOtherTime)
        );
        assert_eq!(
            shown.shown_near(Timestamp::from_unix_ms(4_999 - SHOWN_WITHIN_MS)),
            Err(PassRefused::ShownAtOtherTime)
        );

        // Another switch's pass; another phone showing this pass; the time changed after signing.
        assert_eq!(key(8).check(&showing), Err(PassRefused::Forged));
        let thief = SigningKey::from_bytes(&[10; 32]);
        assert_eq!(switch.check(&showing_at(&pass, &thief, 5_000)), Err(PassRefused::Forged));
        let mut bytes = URL_SAFE_NO_PAD.decode(&showing).unwrap();
        bytes[PASS_LEN + 7] ^= 1;
        assert_eq!(switch.check(&URL_SAFE_NO_PAD.encode(&bytes)), Err(PassRefused::Forged));
        // The rider changed in the pass.
        let mut bytes = URL_SAFE_NO_PAD.decode(&showing).unwrap();
        bytes[16] ^= 1;
        assert_eq!(switch.check(&URL_SAFE_NO_PAD.encode(&bytes)), Err(PassRefused::Forged));

        assert_eq!(switch.check(&showing_at(&pass, &phone, 10_000)), Err(PassRefused::Lapsed));
        assert_eq!(switch.check("not base64!"), Err(PassRefused::Malformed));
        assert_eq!(switch.check(&pass), Err(PassRefused::Malformed), "a pass not shown");
        assert_eq!(
            show(&showing, &phone, Timestamp::from_unix_ms(1)),
            Err(PassRefused::Malformed),
            "shown twice over"
        );
        let showings = [showing_at(&pass, &phone, 5_000), showing_at(&pass, &phone, 5_001)];
        assert_ne!(switch.check(&showings[0]).unwrap().digest, switch.check(&showings[1]).unwrap().digest);
    }
}
