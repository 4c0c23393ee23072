//! Typed identifiers, so that a terminal id can never be passed where a shopper id is expected.
//! They are opaque 128-bit values; who makes them (and from what randomness) is the caller's
//! business, which keeps this crate free of ambient randomness.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `bits` as 32 lower-case hex digits, leading zeros kept: how every id is written. By hand,
/// because ids are written into every stored row and `{:032x}` on a `u128` costs several times
/// as much.
fn lower_hex(bits: u128, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 32];
    for (place, digit) in hex.iter_mut().rev().enumerate() {
        *digit = DIGITS[(bits >> (place * 4)) as usize & 0xf];
    }
    f.write_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(u128);

        impl $name {
            /// Wraps raw id bits made by an injected id generator.
            pub const fn from_u128(bits: u128) -> Self {
                Self(bits)
            }

            pub const fn as_u128(&self) -> u128 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($prefix)?;
                f.write_str("_")?;
                lower_hex(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

typed_id!(
    /// A shopper: the person who enrolls a face and pays. Never appears in biometric tables
    /// (those use a keyed pseudonym, see the vault).
    ShopperId,
    "shp"
);
typed_id!(
    /// A merchant onboarded by an acquirer.
    MerchantId,
    "mer"
);
typed_id!(
    /// A registered terminal (kiosk, cashier tablet, transit gate) of one merchant.
    TerminalId,
    "trm"
);
typed_id!(
    /// One payment, from authorization to capture, refund or reversal.
    PaymentId,
    "pay"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_with_their_kind_so_logs_cannot_confuse_them() {
        assert_eq!(ShopperId::from_u128(0xab).to_string(), "shp_000000000000000000000000000000ab");
        assert_eq!(format!("{:?}", TerminalId::from_u128(1)), "trm_00000000000000000000000000000001");
        assert_eq!(PaymentId::from_u128(7).as_u128(), 7);
    }

    #[test]
    fn every_digit_is_written_where_the_formatter_would_write_it() {
        for bits in [0, 1, 0xf, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, u128::MAX, 1 << 127] {
            assert_eq!(MerchantId::from_u128(bits).to_string(), format!("mer_{bits:032x}"));
        }
    }
}
