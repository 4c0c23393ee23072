//! A node's connection to PostgreSQL that outlives the server going away (a restart, a
//! failover, an idle timeout): a call that finds it closed connects again, with the schema set,
//! before running. The call that saw it break has already failed as unavailable, and its caller
//! decides what that means (a journal node rebuilds from the journal before its next command).

use facepay_payments::JournalError;
use postgres::Client;

use crate::journal::connect;

pub(crate) struct Session {
    url: String,
    schema: String,
    client: Client,
}

impl Session {
    pub(crate) fn open(url: &str, schema: &str) -> Result<Session, JournalError> {
        Ok(Session { url: url.to_owned(), schema: schema.to_owned(), client: connect(url, schema)? })
    }

    /// The connection, made again first if the last one closed.
    pub(crate) fn client(&mut self) -> Result<&mut Client, JournalError> {
        if self.client.is_closed() {
            self.client = connect(&self.url, &self.schema)?;
        }
        Ok(&mut self.client)
    }
}
