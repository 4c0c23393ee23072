//! facepay's messages to external banks over ISO 8583, in the encoding of `facepay-iso8583`.
//! `wire` turns each of the payment core's bank messages into the request a bank host expects
//! (authorization, reversal advice, completion advice, credit, sign-on and echo) and reads the
//! host's answers back; `link` keeps one bank's TCP connection and moves the switch's outbox for
//! that bank over it. `facepay serve` starts a link for each bank it is told of; the others take
//! their messages through the HTTP pull (`api`'s issuer routes).

mod link;
mod wire;

pub use link::{LinkConfig, LinkStatus, SwitchSide, run};
pub use wire::{Answer, Network, WireError, answer, network, refusal_sentence, request, rrn, stan};
