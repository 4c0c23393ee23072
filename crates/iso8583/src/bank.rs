//! Each message the payment core has for a bank, as the ISO 8583 request a bank host expects, and
//! the host's answers read back. Pure: the connection hands it a message and the time of sending.
//!
//! | the core's message | request | answer |
//! |---|---|---|
//! | `Authorize` | 0100, processing code 000000 | 0110: 00 approves, any other code declines |
//! | `Release` | 0420 reversal advice, naming the 0100 in field 90 | 0430 |
//! | `Capture` | 0220 completion advice for the captured amount, field 90 | 0230 |
//! | `Credit` | 0200, processing code 200000 (a credit to the account), field 90, the credit's id and reason in field 48 | 0210 |
//! | sign-on, echo | 0800, network code 001 or 301 | 0810 |
//!
//! Numbers: the STAN (field 11) is the core's trace number for the message, kept to its 6 digits
//! (1 to 999,999, then around again); the RRN (field 37) is the authorization's trace number in 12
//! digits, the same on every message about one payment; field 7 is the moment of sending, UTC;
//! field 90 repeats the authorization's type, STAN and time with the acquirer's id. The account is
//! the bank's own reference for it (field 102), never a card number.

use facepay_domain::{Money, Timestamp};
use facepay_payments::{BankTrace, IssuerAnswer, IssuerMessage, TraceNumber, credit_reference};

use crate::{CodecError, Message, Mti, field};

/// Why a message cannot be sent, or an answer not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{0} has no ISO 4217 numeric code facepay knows")]
    CurrencyWithoutNumericCode(String),
    #[error("an authorization needs its account's reference")]
    ReferenceMissing,
    #[error("the acquirer id is 1 to 11 digits")]
    AcquirerMalformed,
    #[error("{0} is not an answer the switch takes")]
    NotAnAnswer(String),
    #[error("the answer has no field {0}")]
    FieldMissing(u8),
    #[error(transparent)]
    Field(#[from] CodecError),
}

impl WireError {
    pub fn code(&self) -> &'static str {
        match self {
            WireError::CurrencyWithoutNumericCode(_) => "currency_without_numeric_code",
            WireError::ReferenceMissing => "reference_missing",
            WireError::AcquirerMalformed => "acquirer_malformed",
            WireError::NotAnAnswer(_) => "not_an_answer",
            WireError::FieldMissing(_) => "field_missing",
            WireError::Field(err) => err.code(),
        }
    }
}

/// A network management message's purpose (field 70).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    SignOn,
    Echo,
}

/// What a bank host's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// To the authorization sent with this STAN.
    Authorization { stan: String, answer: IssuerAnswer, response_code: String },
    /// The reversal, completion or credit sent with this STAN was taken (00) or refused.
    Acknowledged { stan: String, response_code: String },
    /// To the sign-on or echo sent with this STAN.
    Network { stan: String, response_code: String },
}

/// Field 25 of an account verification (a zero-amount 0100).
pub const ACCOUNT_VERIFICATION: &str = "51";

/// The STAN of the core's `trace`th message to a bank: 6 digits, 000001 to 999999, then around.
pub fn stan(trace: TraceNumber) -> String {
    format!("{:06}", (trace.max(1) - 1) % 999_999 + 1)
}

/// The retrieval reference of the payment whose authorization had `trace`: 12 digits.
pub fn rrn(trace: TraceNumber) -> String {
    format!("{:012}", trace % 1_000_000_000_000)
}

/// Field 7: `MMDDhhmmss`, UTC.
fn transmitted(at: Timestamp) -> String {
    let utc = at.utc();
    format!("{:02}{:02}{:02}{:02}{:02}", utc.month, utc.day, utc.hour, utc.minute, utc.second)
}

/// Field 90: the authorization's type, STAN and time, the acquirer, and no forwarding institution.
fn original_data(original: BankTrace, acquirer: &str) -> String {
    format!("0100{}{}{:0>11}{:011}", stan(original.number), transmitted(original.at), acquirer, 0)
}

/// The request that tells the bank `message`, sent at `sent_at` by acquirer `acquirer` (field 32);
/// `reference` is the account's reference, opened, for an authorization or an account's verification.
pub fn request(
    message: &IssuerMessage,
    reference: Option<&str>,
    acquirer: &str,
    sent_at: Timestamp,
) -> Result<Message, WireError> {
    if acquirer.is_empty() || acquirer.len() > 11 || !acquirer.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WireError::AcquirerMalformed);
    }
    let (mti, processing, amount, trace, original) = match message {
        IssuerMessage::Authorize { amount, trace, .. } => {
            (Mti::AUTHORIZATION, 0, *amount, trace.number, None)
        }
        IssuerMessage::Release { amount, trace, original, .. } => {
            (Mti::REVERSAL_ADVICE, 0, *amount, *trace, Some(*original))
        }
        IssuerMessage::Capture { amount, trace, original, .. } => {
            (Mti::COMPLETION_ADVICE, 0, *amount, *trace, Some(*original))
        }
        IssuerMessage::Credit { amount, trace, original, .. } => {
            (Mti::FINANCIAL, 200_000, *amount, *trace, Some(*original))
        }
        IssuerMessage::VerifyAccount { currency, trace, .. } => {
            (Mti::AUTHORIZATION, 0, Money::zero(*currency), trace.number, None)
        }
    };
    let mut request = Message::new(mti);
    request.set_number(field::PROCESSING_CODE, processing)?;
    request.set_number(field::AMOUNT, minor_units(amount))?;
    request.set(field::TRANSMITTED_AT, transmitted(sent_at))?;
    request.set(field::STAN, stan(trace))?;
    request.set(field::ACQUIRER, acquirer)?;
    let numeric = amount.currency.numeric();
    let numeric =
        numeric.ok_or_else(|| WireError::CurrencyWithoutNumericCode(amount.currency.code().to_owned()))?;
    request.set_number(field::CURRENCY, u64::from(numeric))?;
    match original {
        None => {
            request.set(field::RRN, rrn(trace))?;
            request.set(field::ACCOUNT, reference.ok_or(WireError::ReferenceMissing)?)?;
        }
        Some(original) => {
            request.set(field::RRN, rrn(original.number))?;
            request.set(field::ORIGINAL_DATA, original_data(original, acquirer))?;
        }
    }
    if let IssuerMessage::VerifyAccount { .. } = message {
        // Condition 51: a request to verify the account, with no amount authorized.
        request.set(field::CONDITION, ACCOUNT_VERIFICATION)?;
    }
    if let IssuerMessage::Credit { credit, reason, .. } = message {
        let data = format!("credit={};reason={}", credit_reference(*credit), reason.code());
        request.set(field::PRIVATE_DATA, data)?;
    }
    Ok(request)
}

/// The sign-on or echo with the core's (or the link's own) `trace`.
pub fn network(purpose: Network, trace: TraceNumber, sent_at: Timestamp) -> Message {
    let mut request = Message::new(Mti::NETWORK);
    let code = match purpose {
        Network::SignOn => 1,
        Network::Echo => 301,
    };
    request.set(field::TRANSMITTED_AT, transmitted(sent_at)).expect("10 digits");
    request.set(field::STAN, stan(trace)).expect("6 digits");
    request.set_number(field::NETWORK_CODE, code).expect("3 digits");
    request
}

/// What a bank host's message says, if it is an answer the switch takes.
pub fn answer(message: &Message) -> Result<Answer, WireError> {
    let required = |number| message.get(number).map(str::to_owned).ok_or(WireError::FieldMissing(number));
    let mti = message.mti();
    if !mti.is_response() {
        return Err(WireError::NotAnAnswer(mti.to_string()));
    }
    let (stan, response_code) = (required(field::STAN)?, required(field::RESPONSE_CODE)?);
    Ok(match mti {
        Mti::AUTHORIZATION_RESPONSE => {
            let answer = if response_code == "00" { IssuerAnswer::Approved } else { IssuerAnswer::Declined };
            Answer::Authorization { stan, answer, response_code }
        }
        Mti::REVERSAL_ADVICE_RESPONSE | Mti::COMPLETION_ADVICE_RESPONSE | Mti::FINANCIAL_RESPONSE => {
            Answer::Acknowledged { stan, response_code }
        }
        Mti::NETWORK_RESPONSE => Answer::Network { stan, response_code },
        other => return Err(WireError::NotAnAnswer(other.to_string())),
    })
}

fn minor_units(amount: Money) -> u64 {
    u64::try_from(amount.amount_minor).expect("the core tells banks only positive amounts")
}
