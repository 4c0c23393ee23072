//! The CSV that GTFS files are written in (RFC 4180: quoted fields, doubled quotes inside them,
//! CRLF or LF line ends, an optional UTF-8 byte-order mark), read into rows that remember their
//! line, so every import report can point at the line it is about.

use thiserror::Error;

/// One file: its header and its rows, every row as wide as the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line the row starts on, counting the header as line 1.
    pub line: usize,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CsvError {
    #[error("the file has no header line")]
    NoHeader,
    #[error("line {line}: a quoted field is never closed")]
    UnclosedQuote { line: usize },
    #[error("line {line}: text follows a closing quote")]
    TextAfterQuote { line: usize },
    #[error("line {line}: {found} fields where the header names {expected}")]
    Width { line: usize, found: usize, expected: usize },
}

impl Table {
    /// The position of `column` in the header.
    pub fn column(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|name| name == column)
    }
}

impl Row {
    /// The field at `column`, or `None` when there is no such column or the field is empty.
    pub fn get(&self, column: Option<usize>) -> Option<&str> {
        column.and_then(|at| self.fields.get(at)).map(String::as_str).filter(|field| !field.is_empty())
    }
}

/// Parses `text`; blank lines are skipped, unquoted fields are trimmed of surrounding spaces.
pub fn parse(text: &str) -> Result<Table, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let starts_on = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => break,
                Some('"') if field.trim().is_empty() && !quoted => {
                    field.clear();
                    quoted = true;
                    loop {
                        match chars.next() {
                            None => return Err(CsvError::UnclosedQuote { line: starts_on }),
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                line += usize::from(c == '\n');
                                field.push(c);
                            }
                        }
                    }
                    while chars.peek() == Some(&' ') {
                        chars.next();
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                        return Err(CsvError::TextAfterQuote { line });
                    }
                }
                Some(',') => {
                    fields.push(finish(&mut field, quoted));
                    quoted = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        fields.push(finish(&mut field, quoted));
        if fields.len() > 1 || !fields[0].is_empty() {
            records.push(Row { line: starts_on, fields });
        }
    }
    let mut records = records.into_iter();
    let header = records.next().ok_or(CsvError::NoHeader)?.fields;
    let rows: Vec<Row> = records.collect();
    if let Some(odd) = rows.iter().find(|row| row.fields.len() != header.len()) {
        return Err(CsvError::Width { line: odd.line, found: odd.fields.len(), expected: header.len() });
    }
    Ok(Table { header, rows })
}

fn finish(field: &mut String, quoted: bool) -> String {
    let taken = std::mem::take(field);
    if quoted { taken } else { taken.trim().to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_line_ends_and_the_byte_order_mark() {
        let text =
            "\u{feff}id,name,note\r\n1,\"Main St, north\",\"say \"\"hi\"\"\"\r\n\n2, plain ,\"two\nlines\"\n";
        let table = parse(text).unwrap();
        assert_eq!(table.header, ["id", "name", "note"]);
        assert_eq!(table.rows[0].fields, ["1", "Main St, north", "say \"hi\""]);
        assert_eq!(table.rows[0].line, 2);
        assert_eq!(table.rows[1].fields, ["2", "plain", "two\nlines"]);
        assert_eq!(table.rows[1].line, 4);
        assert_eq!(table.column("note"), Some(2));
        assert_eq!(table.rows[1].get(table.column("name")), Some("plain"));
        assert_eq!(table.rows[1].get(table.column("absent")), None);
    }

    #[test]
    fn empty_fields_read_as_absent_and_a_trailing_empty_field_counts() {
        let table = parse("a,b,c\n1,,\n").unwrap();
        assert_eq!(table.rows[0].fields, ["1", "", ""]);
        assert_eq!(table.rows[0].get(Some(1)), None);
    }

    #[test]
    fn malformed_files_are_refused_with_their_line() {
        assert_eq!(parse(""), Err(CsvError::NoHeader));
        assert_eq!(parse("a,b\n1,\"open\n"), Err(CsvError::UnclosedQuote { line: 2 }));
        assert_eq!(parse("a,b\n1,\"x\"y\n"), Err(CsvError::TextAfterQuote { line: 2 }));
        assert_eq!(parse("a,b\n1,2\n1,2,3\n"), Err(CsvError::Width { line: 3, found: 3, expected: 2 }));
    }
}
