//! A party's day as an ISO 20022 camt.053.001.02 bank-to-customer statement, the version most
//! banks' back offices read: the day as the statement's period, opening and closing booked
//! balances (each day is settled on its own, so it opens at zero and closes at the day's
//! net), the entry totals, and one booked entry per line. An entry's own reference is the
//! ledger movement's number; its bank transaction code is proprietary (`payment`, `refund`,
//! `reversal`, `compensation`, `chargeback`, issued by `facepay`); its references are the
//! payment (EndToEndId), the credit (TxId) and the retrieval reference number (ClrSysRef),
//! each as its 32 hex digits where a camt reference holds no more than 35 characters, and the
//! full names in the entry's additional information.

use std::fmt::Write as _;

use facepay_domain::{Currency, Timestamp};

use crate::day::{iso_date, iso_instant};
use crate::statement::{Direction, Line, Statement};

pub const CAMT053_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CamtError {
    #[error(
        "the switch's currency {0} has no known minor unit, so its amounts cannot be written as decimals"
    )]
    CurrencyWithoutMinorUnit(Currency),
}

impl CamtError {
    pub fn code(&self) -> &'static str {
        match self {
            CamtError::CurrencyWithoutMinorUnit(_) => "settlement_currency_without_minor_unit",
        }
    }
}

/// The statement as camt.053.001.02, made at `created`.
pub fn camt053(statement: &Statement, created: Timestamp) -> Result<String, CamtError> {
    let currency = statement.currency;
    let digits = currency.minor_digits().ok_or(CamtError::CurrencyWithoutMinorUnit(currency))?;
    let amount = |minor: i128| decimal(minor.unsigned_abs(), digits);
    let ccy = currency.code();
    let id = format!("{}-{}", statement.day.date(), statement.party.name());
    let closing = statement.closing_minor();
    let (credits, debits) = (statement.credits_minor(), statement.debits_minor());
    let count = |direction| statement.lines.iter().filter(|line| line.direction == direction).count();

    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(xml, "<Document xmlns=\"{CAMT053_NAMESPACE}\"><BkToCstmrStmt>");
    let _ = write!(xml, "<GrpHdr><MsgId>{id}</MsgId><CreDtTm>{}</CreDtTm></GrpHdr>", iso_instant(created));
    let _ = write!(xml, "<Stmt><Id>{id}</Id><CreDtTm>{}</CreDtTm>", iso_instant(created));
    let _ = write!(
        xml,
        "<FrToDt><FrDtTm>{}</FrDtTm><ToDtTm>{}</ToDtTm></FrToDt>",
        iso_instant(statement.day.from()),
        iso_instant(statement.day.to().plus_ms(-1))
    );
    let _ = write!(
        xml,
        "<Acct><Id><Othr><Id>facepay-{}</Id></Othr></Id><Ccy>{ccy}</Ccy></Acct>",
        statement.party.name()
    );
    for (kind, minor, at) in
        [("OPBD", 0, statement.day.from()), ("CLBD", closing, statement.day.to().plus_ms(-1))]
    {
        let _ = write!(
            xml,
            "<Bal><Tp><CdOrPrtry><Cd>{kind}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{}</Amt>\
             <CdtDbtInd>{}</CdtDbtInd><Dt><DtTm>{}</DtTm></Dt></Bal>",
            amount(minor),
            sign(minor),
            iso_instant(at)
        );
    }
    let _ = write!(
        xml,
        "<TxsSummry><TtlNtries><NbOfNtries>{}</NbOfNtries><Sum>{}</Sum><TtlNetNtryAmt>{}</TtlNetNtryAmt>\
         <CdtDbtInd>{}</CdtDbtInd></TtlNtries>\
         <TtlCdtNtries><NbOfNtries>{}</NbOfNtries><Sum>{}</Sum></TtlCdtNtries>\
         <TtlDbtNtries><NbOfNtries>{}</NbOfNtries><Sum>{}</Sum></TtlDbtNtries></TxsSummry>",
        statement.lines.len(),
        amount(credits + debits),
        amount(closing),
        sign(closing),
        count(Direction::Credit),
        amount(credits),
        count(Direction::Debit),
        amount(debits),
    );
    for line in &statement.lines {
        entry(&mut xml, line, ccy, &amount(i128::from(line.amount_minor)));
    }
    xml.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    Ok(xml)
}

fn entry(xml: &mut String, line: &Line, ccy: &str, amount: &str) {
    let direction = match line.direction {
        Direction::Credit => "CRDT",
        Direction::Debit => "DBIT",
    };
    let _ = write!(
        xml,
        "<Ntry><NtryRef>{movement}</NtryRef><Amt Ccy=\"{ccy}\">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>\
         <Sts>BOOK</Sts><BookgDt><DtTm>{booked}</DtTm></BookgDt><ValDt><Dt>{date}</Dt></ValDt>\
         <AcctSvcrRef>{movement}</AcctSvcrRef>\
         <BkTxCd><Prtry><Cd>{kind}</Cd><Issr>facepay</Issr></Prtry></BkTxCd>",
        movement = line.movement,
        booked = iso_instant(line.booked_at),
        date = iso_date(line.booked_at),
        kind = line.kind.code(),
    );
    let hex = |name: &str| name.split_once('_').map_or(name, |(_, digits)| digits).to_owned();
    let references = [
        ("EndToEndId", line.payment.map(|id| hex(&id.to_string()))),
        ("TxId", line.credit_reference.as_deref().map(hex)),
        ("ClrSysRef", line.rrn.clone()),
    ];
    if references.iter().any(|(_, reference)| reference.is_some()) {
        xml.push_str("<NtryDtls><TxDtls><Refs>");
        for (element, reference) in references {
            if let Some(reference) = reference {
                let _ = write!(xml, "<{element}>{reference}</{element}>");
            }
        }
        xml.push_str("</Refs></TxDtls></NtryDtls>");
    }
    let mut information = Vec::new();
    let mut name = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            information.push(format!("{label} {value}"));
        }
    };
    name("payment", line.payment.map(|id| id.to_string()));
    name("credit", line.credit_reference.clone());
    name("merchant", line.merchant.map(|id| id.to_string()));
    name("terminal", line.terminal.map(|id| id.to_string()));
    name("order", line.order_id.clone());
    if !information.is_empty() {
        let _ = write!(xml, "<AddtlNtryInf>{}</AddtlNtryInf>", escaped(&information.join("; ")));
    }
    xml.push_str("</Ntry>");
}

/// `CRDT` for a balance in the party's favour (or zero), `DBIT` for one it owes.
fn sign(minor: i128) -> &'static str {
    if minor >= 0 { "CRDT" } else { "DBIT" }
}

/// `minor` units as a decimal with `digits` places: 1234 and 2 places are `12.34`.
fn decimal(minor: u128, digits: u32) -> String {
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10u128.pow(digits);
    format!("{}.{:0width$}", minor / scale, minor % scale, width = digits as usize)
}

/// Text as XML character data.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimals_of_the_currencys_minor_unit() {
        assert_eq!(decimal(1234, 2), "12.34");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(1234, 0), "1234");
        assert_eq!(decimal(u128::from(u64::MAX), 3), "18446744073709551.615");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escaped("a<b & 'c'>\""), "a&lt;b &amp; &apos;c&apos;&gt;&quot;");
    }
}
