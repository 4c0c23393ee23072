//! facepay's shared vocabulary: the types every other crate speaks in.
//!
//! Owns: [`Money`] (integer minor units, never floats), [`Currency`], [`Timestamp`], typed ids and
//! [`FaceTemplate`], [`Secret`], the wrapper that every face template and key crosses a crate boundary in,
//! [`Sealed`] and [`KeyedDigest`], the forms a shopper's personal fields take outside the vault,
//! and [`SplitMix64`], the seeded generator for everything that must replay exactly.
//!
//! Must never: do IO, read the wall clock or ambient randomness (clippy's `disallowed-methods`
//! enforces it), or depend on another facepay crate. Everything here is a plain value.

mod ids;
mod money;
mod personal;
mod secret;
mod split_mix;
mod template;
mod time;

pub use ids::{MerchantId, PaymentId, ShopperId, TerminalId};
pub use money::{Currency, CurrencyError, Money, MoneyError};
pub use personal::{KeyedDigest, Sealed};
pub use secret::Secret;
pub use split_mix::SplitMix64;
pub use template::{FaceTemplate, RecognizerTag, TemplateError};
pub use time::{Timestamp, Utc, civil_date, civil_date_text, parse_civil_date};
