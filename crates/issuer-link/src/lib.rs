//! facepay's messages to external banks over ISO 8583 on TCP: `link` keeps one bank's connection
//! and moves the switch's outbox for that bank over it, in the requests and answers of
//! `facepay-iso8583`'s `bank` module. `facepay serve` starts a link for each bank it is told of;
//! the others take their messages through the HTTP pull (`api`'s issuer routes).

mod link;

pub use link::{LinkConfig, LinkStatus, SwitchSide, run};
