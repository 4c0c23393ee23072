//! `facepay serve`'s links to banks over ISO 8583: each bank named in `FACEPAY_ISSUER_LINKS`
//! (`3=10.0.0.5:9100,4=bank-b.example:7000`) gets a thread running `facepay_issuer_link::run`
//! against this node: its outbox queue for that bank, the bank's answers as commands, and the
//! account references opened from the vault. A bank without a link keeps the HTTP pull.
//!
//! Settings, from the environment: `FACEPAY_ACQUIRER_ID` (field 32, default 1),
//! `FACEPAY_ISSUER_TIMEOUT_MS` (how long an answer is waited for, default 10,000; keep it under
//! the core's 60 s outcome timeout, which is what declines a payment whose bank is silent).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use facepay_api::Switch;
use facepay_domain::{PaymentId, Timestamp};
use facepay_issuer_link::{LinkConfig, LinkStatus, SwitchSide, run};
use facepay_payments::{Command, IssuerAnswer, IssuerId, IssuerMessage, Recipient, TraceNumber};

const ECHO_EVERY: Duration = Duration::from_secs(30);
const IN_FLIGHT_MAX: usize = 64;
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The links of a running node; dropping them stops every link and waits for its thread.
pub struct BankLinks {
    stops: Vec<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for BankLinks {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The links `links` names (`issuer=host:port`, comma-separated), with the acquirer's id and
/// the answer timeout.
pub fn parse(links: &str, acquirer: &str, answer_timeout: Duration) -> Result<Vec<LinkConfig>, String> {
    if acquirer.is_empty() || acquirer.len() > 11 || !acquirer.bytes().all(|b| b.is_ascii_digit()) {
        return Err("FACEPAY_ACQUIRER_ID is 1 to 11 digits [config_acquirer_invalid]".into());
    }
    let mut configs: Vec<LinkConfig> = Vec::new();
    for entry in links.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        let malformed = || {
            format!(
                "FACEPAY_ISSUER_LINKS entry {entry:?} is issuer=host:port, the issuer a number [config_issuer_links_invalid]"
            )
        };
        let (issuer, address) = entry.split_once('=').ok_or_else(malformed)?;
        let bank = IssuerId(issuer.trim().parse().map_err(|_| malformed())?);
        if bank == IssuerId::BUILT_IN || configs.iter().any(|config| config.bank == bank) {
            return Err(malformed());
        }
        let address: SocketAddr =
            address.trim().to_socket_addrs().ok().and_then(|mut found| found.next()).ok_or_else(|| {
                format!("FACEPAY_ISSUER_LINKS: {address} does not resolve [config_issuer_links_invalid]")
            })?;
        configs.push(LinkConfig {
            bank,
            address,
            acquirer: acquirer.to_owned(),
            answer_timeout,
            echo_every: ECHO_EVERY,
            in_flight_max: IN_FLIGHT_MAX,
            backoff_max: BACKOFF_MAX,
        });
    }
    Ok(configs)
}

/// Starts a link per bank against `switch`.
pub fn start(configs: Vec<LinkConfig>, switch: &Arc<Switch>) -> Result<BankLinks, String> {
    let mut links = BankLinks { stops: Vec::new(), threads: Vec::new() };
    for config in configs {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start a bank link: {err}"))?;
        let side = NodeSide { switch: switch.clone(), runtime };
        let (stop, stopped) = channel();
        let status = Arc::new(Mutex::new(LinkStatus::default()));
        let thread = std::thread::Builder::new()
            .name(format!("bank-link-{}", config.bank.0))
            .spawn(move || run(&config, &side, &status, &stopped))
            .map_err(|err| format!("cannot start a bank link: {err}"))?;
        links.stops.push(stop);
        links.threads.push(thread);
    }
    Ok(links)
}

/// This node as a link sees it. Its calls block the link's own thread on a runtime of its own.
struct NodeSide {
    switch: Arc<Switch>,
    runtime: tokio::runtime::Runtime,
}

impl SwitchSide for NodeSide {
    fn pending(&self, bank: IssuerId, max: usize) -> Result<Vec<(u64, IssuerMessage)>, String> {
        let pending = self.runtime.block_on(self.switch.outbox(Recipient::Issuer(bank), max));
        let pending = pending.map_err(|err| err.message.clone())?;
        Ok(pending
            .into_iter()
            .filter_map(|delivery| match delivery.outbound {
                facepay_payments::Outbound::Issuer(message) => Some((delivery.id, message)),
                facepay_payments::Outbound::Risk(_) => None,
            })
            .collect())
    }

    fn acknowledge(&self, ids: &[u64]) -> Result<(), String> {
        self.runtime.block_on(self.switch.mark_delivered(ids.to_vec())).map_err(|err| err.message.clone())
    }

    fn reference(&self, message: &IssuerMessage) -> Option<String> {
        self.runtime.block_on(self.switch.bank_reference(message)).ok().flatten()
    }

    fn answered(&self, payment: PaymentId, answer: IssuerAnswer, _response_code: &str) -> Result<(), String> {
        let command = Command::IssuerAnswered { payment, answer };
        match self.runtime.block_on(self.switch.execute(command)) {
            Ok(_) => Ok(()),
            // Too late: the payment timed out and its release is on its way to the bank.
            Err(err) if err.code == "payment_transition_not_allowed" => Ok(()),
            Err(err) => Err(err.message.clone()),
        }
    }

    fn account_answered(
        &self,
        bank: IssuerId,
        trace: TraceNumber,
        answer: IssuerAnswer,
        response_code: &str,
    ) -> Result<(), String> {
        let response_code = response_code.to_owned();
        let command = Command::AccountVerified { issuer: bank, trace, answer, response_code };
        match self.runtime.block_on(self.switch.execute(command)) {
            Ok(_) => Ok(()),
            // Withdrawn by the shopper, or answered already.
            Err(err) if err.code == "verification_unknown" => Ok(()),
            Err(err) => Err(err.message.clone()),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix_ms(facepay_api::now_ms())
    }
}
