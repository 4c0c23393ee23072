//! Deterministic simulation of the payment core: many shoppers, terminals and retries against
//! an in-memory store that fails on purpose (crashes, timeouts, duplicate deliveries), checking
//! after every step that the ledger balances and nothing was charged twice. One seed replays
//! one run exactly.
//!
//! Must never: read the wall clock or ambient randomness (the seed is the only source), or
//! touch a real database, network or model.
