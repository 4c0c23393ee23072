//! ISO 8583 messages as facepay exchanges them with issuers. The version and encoding are fixed
//! here, once: the 1987 field layout, all in ASCII (the message type as 4 digits, each bitmap as
//! 16 upper-case hex characters, numbers as digits, a variable field's length as 2 or 3
//! digits before it), framed on TCP by a 2-byte big-endian length. It is the layout of
//! pyiso8583's `default_ascii` specification, the independent codec the tests talk to.
//!
//! `spec` lists the fields facepay reads or writes, with their length and characters; a message
//! naming any other field is refused, since its length could not be known. `Message` is a type
//! and its fields, checked when set and when decoded, so what `encode` writes is always valid.
//! `frame` adds and reads the TCP length header. `bank` turns each of the payment core's bank
//! messages into the request a bank host expects and reads the host's answers back.

mod bank;
mod frame;
mod message;
mod spec;

pub use bank::{ACCOUNT_VERIFICATION, Answer, Network, WireError, answer, network, request, rrn, stan};
pub use frame::{Deframer, FRAME_MAX, frame};
pub use message::{CodecError, Message, Mti};
pub use spec::{Chars, FieldSpec, Length, field, spec};
