//! facepay's messages to external banks over ISO 8583, in the encoding of `facepay-iso8583`.
//! `wire` turns each of the payment core's bank messages into the request a bank host expects
//! (authorization, reversal advice, completion advice, credit, sign-on and echo) and reads the
//! host's answers back. The connection to each bank, which will send these over TCP, is the next
//! step; until it lands, banks take their messages through the HTTP pull (`api`'s issuer routes).

mod wire;

pub use wire::{Answer, Network, WireError, answer, network, refusal_sentence, request, rrn, stan};
