//! The payment core: enrollment and consent, the payment decision (liveness, match, PIN, limits,
//! risk rules), refunds, disputes and settlement, as plain functions over injected ports.
//!
//! Owns: the ports it needs (`Store`, `Clock`, `Rng`, `Biometrics`, `Issuer`) and every business
//! rejection, each an enum value with a stable code.
//!
//! Must never: do IO itself, read the wall clock or ambient randomness, know SQL or HTTP, see
//! pixels, or depend on facepay crates other than `domain`, `ledger` and `face-index`.
