//! The per-transaction settlement file: one CSV row per line of a party's statement (RFC 4180,
//! a header, fields with a comma, quote or line break quoted). A bank returns its own books in
//! the same columns for `reconcile`.

use std::fmt::Write as _;

use crate::day::{iso_date, iso_instant};
use crate::statement::Statement;

/// The columns, in order.
pub const CSV_HEADER: &str = "booking_date,booked_at,movement,kind,direction,amount_minor,currency,\
                              payment_id,credit_reference,rrn,merchant,terminal,order_id";

/// The statement as the per-transaction CSV.
pub fn per_transaction_csv(statement: &Statement) -> String {
    let mut csv = format!("{CSV_HEADER}\n");
    for line in &statement.lines {
        let fields = [
            iso_date(line.booked_at),
            iso_instant(line.booked_at),
            line.movement.to_string(),
            line.kind.code().to_owned(),
            line.direction.code().to_owned(),
            line.amount_minor.to_string(),
            statement.currency.code().to_owned(),
            line.payment.map(|id| id.to_string()).unwrap_or_default(),
            line.credit_reference.clone().unwrap_or_default(),
            line.rrn.clone().unwrap_or_default(),
            line.merchant.map(|id| id.to_string()).unwrap_or_default(),
            line.terminal.map(|id| id.to_string()).unwrap_or_default(),
            line.order_id.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = fields.iter().map(|field| quoted(field)).collect();
        writeln!(csv, "{}", row.join(",")).expect("writing to a String cannot fail");
    }
    csv
}

/// `field` as RFC 4180 writes it: in quotes, with quotes doubled, when it holds a comma, a
/// quote or a line break.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_with_a_comma_or_quote_is_quoted() {
        assert_eq!(quoted("order-7"), "order-7");
        assert_eq!(quoted("a,b"), "\"a,b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
