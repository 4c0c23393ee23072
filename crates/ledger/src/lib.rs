//! The double-entry ledger: accounts, transfers, holds (pending, then posted, voided or expired)
//! and idempotency keys, as plain functions of state and input.
//!
//! Owns: the rule that every transfer debits one account and credits another by the same integer
//! amount in one currency, so the books always balance; a retried transfer with the same key
//! returns the first result instead of moving money twice.
//!
//! Must never: do IO, read the wall clock or ambient randomness (time arrives as an input), use
//! floating point for money, or depend on any facepay crate but `domain`.
