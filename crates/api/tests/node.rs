//! The node's own machinery: an idle node journals nothing however often its sweeper looks, a
//! payment whose outcome never came is swept exactly once, when due, and a panic in the core
//! halts the node, which says so and stops instead of serving on as a zombie.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use facepay_api::ApiConfig;
use facepay_domain::{PaymentId, Timestamp};
use facepay_payments::{
    Append, AuditEntry, AuditFilter, Checkpoint, Delivery, Entry, Journal, JournalError, MemoryJournal,
    Movement, PaymentRow, PaymentState, PaymentTally, ReadModel,
};
use serde_json::json;

fn journaled(journal: &MemoryJournal) -> usize {
    journal.clone().read_after(0).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_journals_nothing_and_sweeps_only_what_is_due() {
    // The sweeper looks every millisecond: a thousand looks a second, each of which journaled
    // a sweep before.
    let config = ApiConfig { sweep_every: Duration::from_millis(1), ..config() };
    let core = facepay_payments::CoreConfig { outcome_timeout_ms: 400, ..core_config() };
    let node = node_with_core(config, core);
    let (_, merchant_key) = merchant(&node).await;
    let terminal = terminal(&node, &merchant_key).await;
    shopper(&node, 1, "1234", 10_000).await;

    let idle_from = journaled(&node.journal);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(journaled(&node.journal), idle_from, "1.5 s of idle looks journaled nothing");

    // A payment the terminal never confirms: due at its outcome timeout, reversed by one sweep.
    let (_, paid) = send(
        &node.router,
        signed(&terminal, "POST", "/v1/terminal/payments", &pay_body(2_500, "k", "face:1")),
    )
    .await;
    assert_eq!(paid["state"], "authorized", "{paid}");
    let paid_at = journaled(&node.journal);
    let hex = paid["payment_id"].as_str().unwrap().trim_start_matches("pay_");
    let id = PaymentId::from_u128(u128::from_str_radix(hex, 16).unwrap());
    let state = || node.switch.read(|core| core.payment(id).unwrap().state);
    for _ in 0..500 {
        if state() != PaymentState::Authorized {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state(), PaymentState::Reversed, "swept within 10 s of its 0.4 s timeout");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(journaled(&node.journal), paid_at + 1, "one sweep, and nothing after it");
    let metrics = node.switch.metrics_text();
    assert!(metrics.contains(&format!("facepay_journal_head {}\n", paid_at + 1)), "{metrics}");
    assert!(metrics.contains("facepay_checkpoint_failures_total 0\n"), "{metrics}");
}

/// A memory journal that calls `before_commit` once the core has run a batch and before the
/// batch commits: to panic there, as a broken invariant would, or to hold the commit, as a
/// slow disk would.
struct HookedJournal {
    inner: MemoryJournal,
    before_commit: Box<dyn FnMut() + Send>,
}

impl Journal for HookedJournal {
    fn read_after(&mut self, after: u64) -> Result<Vec<Entry>, JournalError> {
        self.inner.read_after(after)
    }
    fn append_with(
        &mut self,
        after: u64,
        write: &mut dyn FnMut(Vec<Entry>) -> Vec<Append>,
    ) -> Result<u64, JournalError> {
        let before_commit = &mut self.before_commit;
        self.inner.append_with(after, &mut |others| {
            let appends = write(others);
            before_commit();
            appends
        })
    }
    fn undelivered(
        &mut self,
        recipient: Option<facepay_payments::Recipient>,
        limit: usize,
    ) -> Result<Vec<Delivery>, JournalError> {
        self.inner.undelivered(recipient, limit)
    }
    fn mark_delivered(&mut self, ids: &[u64]) -> Result<(), JournalError> {
        self.inner.mark_delivered(ids)
    }
    fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), JournalError> {
        self.inner.write_checkpoint(checkpoint)
    }
    fn checkpoint_seqs(&mut self) -> Result<Vec<u64>, JournalError> {
        self.inner.checkpoint_seqs()
    }
    fn read_checkpoint(&mut self, seq: u64) -> Result<Option<Checkpoint>, JournalError> {
        self.inner.read_checkpoint(seq)
    }
    fn audit_entries(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, JournalError> {
        self.inner.audit_entries(filter)
    }
    fn prune_through(&mut self, seq: u64) -> Result<u64, JournalError> {
        self.inner.prune_through(seq)
    }
    fn store_missing_audit(&mut self, entries: &[AuditEntry]) -> Result<(), JournalError> {
        self.inner.store_missing_audit(entries)
    }
    fn payment_row(&mut self, id: PaymentId) -> Result<Option<PaymentRow>, JournalError> {
        self.inner.payment_row(id)
    }
    fn movements(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Movement>, JournalError> {
        self.inner.movements(from, to, after, limit)
    }
    fn read_model_through(&mut self) -> Result<u64, JournalError> {
        self.inner.read_model_through()
    }
    fn store_read_model(&mut self, through: u64, rows: &ReadModel) -> Result<(), JournalError> {
        self.inner.store_read_model(through, rows)
    }
    fn read_model_size(&mut self) -> Result<(u64, u64), JournalError> {
        self.inner.read_model_size()
    }
    fn payment_tallies(&mut self, since: Timestamp) -> Result<Vec<PaymentTally>, JournalError> {
        self.inner.payment_tallies(since)
    }
    fn latest_payments(&mut self, limit: usize) -> Result<Vec<PaymentRow>, JournalError> {
        self.inner.latest_payments(limit)
    }

    fn claim_nonce(
        &mut self,
        terminal: facepay_domain::TerminalId,
        nonce: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        self.inner.claim_nonce(terminal, nonce, expires, now)
    }

    fn device_templates_allowed(
        &mut self,
        terminal: facepay_domain::TerminalId,
    ) -> Result<bool, JournalError> {
        self.inner.device_templates_allowed(terminal)
    }

    fn allow_device_templates(
        &mut self,
        terminal: facepay_domain::TerminalId,
        allowed: bool,
    ) -> Result<(), JournalError> {
        self.inner.allow_device_templates(terminal, allowed)
    }

    fn issue_challenge(
        &mut self,
        terminal: facepay_domain::TerminalId,
        challenge: &str,
        expires: Timestamp,
    ) -> Result<(), JournalError> {
        self.inner.issue_challenge(terminal, challenge, expires)
    }

    fn take_challenge(
        &mut self,
        terminal: facepay_domain::TerminalId,
        challenge: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        self.inner.take_challenge(terminal, challenge, now)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_core_halts_the_node_which_reports_not_ready_and_stops_serving() {
    let journal = MemoryJournal::default();
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = armed.clone();
    let before_commit = Box::new(move || {
        assert!(!trigger.load(Ordering::SeqCst), "an invariant broke (injected by the test)")
    });
    let store = HookedJournal { inner: journal.clone(), before_commit };
    let node = node_on(Box::new(store), Box::new(journal.clone()), journal, config());
    let fund = |id: &str| {
        let body = json!({ "amount_minor": 100, "funding_id": id });
        with_key("POST", "/v1/operator/reserve", &node.operator_key, Some(body))
    };
    assert_eq!(send(&node.router, fund("before")).await.0, StatusCode::OK);
    assert_eq!(
        send(&node.router, Request::get("/ready").body(Body::empty()).unwrap()).await.0,
        StatusCode::OK
    );

    armed.store(true, Ordering::SeqCst);
    let (status, halted) = send(&node.router, fund("during")).await;
    assert_eq!((status, code(&halted)), (StatusCode::SERVICE_UNAVAILABLE, "core_halted"), "{halted}");
    assert!(node.switch.halted().is_some_and(|reason| reason.contains("injected by the test")));
    let (status, ready) = send(&node.router, Request::get("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(ready["error"]["message"].as_str().unwrap().contains("core_halted"), "{ready}");
    assert!(node.switch.metrics_text().contains("facepay_core_halted 1"));
    let (status, _) = send(&node.router, fund("after")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "every later write is refused, none hangs");

    // `facepay serve` stops on its own and exits non-zero: the serving loop returns the error.
    let switch = node.switch.clone();
    let served = tokio::task::spawn_blocking(move || {
        facepay_api::serve_until_stopped("127.0.0.1:0", switch, Duration::ZERO, |_| {}, |_| {})
    })
    .await
    .unwrap();
    assert!(served.unwrap_err().to_string().contains("[core_halted]"));
}

/// Readers never wait for a commit: while the writer holds a batch's commit (a disk that does
/// not answer), the core is still read: the terminals' and keys' look-ups every request makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_are_answered_while_a_commit_hangs() {
    let journal = MemoryJournal::default();
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let (entered, in_commit) = std::sync::mpsc::channel::<()>();
    let holding = Arc::new(AtomicBool::new(false));
    let hooked = holding.clone();
    let held = std::sync::Mutex::new(held);
    let before_commit = Box::new(move || {
        if hooked.load(Ordering::SeqCst) {
            let _ = entered.send(());
            let _ = held.lock().unwrap().recv();
        }
    });
    let store = HookedJournal { inner: journal.clone(), before_commit };
    let node = node_on(Box::new(store), Box::new(journal.clone()), journal, config());
    holding.store(true, Ordering::SeqCst);
    let fund = json!({ "amount_minor": 100, "funding_id": "slow" });
    let router = node.router.clone();
    let request = with_key("POST", "/v1/operator/reserve", &node.operator_key, Some(fund));
    let writing = tokio::spawn(async move { send(&router, request).await });
    tokio::task::spawn_blocking(move || in_commit.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the write reached its commit");

    let switch = node.switch.clone();
    let read = tokio::task::spawn_blocking(move || switch.read(|core| core.has_operator_key()));
    let answered = tokio::time::timeout(Duration::from_secs(10), read).await;
    // A scrape too: the node's head and checkpoints are published, not read under its lock.
    let switch = node.switch.clone();
    let scrape = tokio::task::spawn_blocking(move || switch.metrics_text());
    let scraped = tokio::time::timeout(Duration::from_secs(10), scrape).await;
    holding.store(false, Ordering::SeqCst);
    hold.send(()).unwrap();
    assert!(matches!(answered, Ok(Ok(true))), "a read waited for the commit");
    assert!(
        matches!(&scraped, Ok(Ok(text)) if text.contains("facepay_journal_head")),
        "a scrape waited for the commit"
    );
    assert_eq!(writing.await.unwrap().0, StatusCode::OK, "and the write then committed");
}

#[tokio::test]
async fn a_stopping_node_refuses_new_requests_and_journals_none_of_them() {
    let node = node();
    let ready = || Request::get("/ready").body(Body::empty()).unwrap();
    assert_eq!(send(&node.router, ready()).await.0, StatusCode::OK);
    let before = journaled(&node.journal);
    node.switch.begin_stopping();
    // An operator route and an open sign-up: both audited when served, neither when refused.
    let limits = with_key("GET", "/v1/operator/limits", &node.operator_key, None);
    let (status, body) = send(&node.router, limits).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "node_stopping"));
    let sign_up = json!({"consent_text_version": "2026-11", "phone_last4": "1234", "name": "Eve"});
    let request = Request::post("/v1/shoppers")
        .header("content-type", "application/json")
        .body(Body::from(sign_up.to_string()))
        .unwrap();
    let (status, body) = send(&node.router, request).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "node_stopping"));
    assert_eq!(send(&node.router, ready()).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(journaled(&node.journal), before, "a refusal while stopping writes nothing");
}
