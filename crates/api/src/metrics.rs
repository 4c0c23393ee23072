//! The numbers `/metrics` serves in Prometheus' text format: requests by route and status, a
//! latency histogram per route, payment decisions by reason, and the face index's size. Counted
//! in memory per node; labels are route templates and codes, never ids or anything personal.
//! It also keeps the latest pay requests' times, for the operator console's p95.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    decisions: BTreeMap<String, u64>,
    /// Refusals of callers who proved no identity, by route: counted here, never journaled.
    unauthenticated_refusals: BTreeMap<String, u64>,
    /// The latest answered pay requests' times, newest last, for the console's p95.
    recent_pay_seconds: VecDeque<f64>,
}

/// How many pay requests the console's p95 looks back over.
const RECENT_PAYS: usize = 1_000;
const PAY_ROUTE: (&str, &str) = ("POST", "/v1/terminal/payments");

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        // Anyone can send any method: the label takes HTTP's own set and files the rest together.
        let method = bounded_method(method);
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let histogram = counts.latency.entry(format!("{method} {route}")).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        if (method, route) == PAY_ROUTE && status == 200 {
            if counts.recent_pay_seconds.len() == RECENT_PAYS {
                counts.recent_pay_seconds.pop_front();
            }
            counts.recent_pay_seconds.push_back(seconds);
        }
    }

    /// A request refused while its caller had proven no identity (`route` is the matched
    /// template or `unmatched`).
    pub fn observe_unauthenticated_refusal(&self, route: &str) {
        self.count(|counts| &mut counts.unauthenticated_refusals, route);
    }

    /// One payment decision: `approved`, `needs_phone_digits`, or the decline reason's code.
    pub fn observe_decision(&self, outcome: &str) {
        self.count(|counts| &mut counts.decisions, outcome);
    }

    /// One more of `key` in the counter `pick` names.
    fn count(&self, pick: fn(&mut Counts) -> &mut BTreeMap<String, u64>, key: &str) {
        let mut counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *pick(&mut counts).entry(key.to_owned()).or_default() += 1;
    }

    /// The 95th percentile of the latest answered pay requests' times, in ms (nearest rank).
    pub fn recent_pay_p95_ms(&self) -> Option<f64> {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seconds: Vec<f64> = counts.recent_pay_seconds.iter().copied().collect();
        if seconds.is_empty() {
            return None;
        }
        seconds.sort_by(f64::total_cmp);
        let rank = (seconds.len() * 95).div_ceil(100);
        Some(seconds[rank - 1] * 1000.0)
    }

    pub fn render(&self, node: &NodeGauges) -> String {
        let counts = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP facepay_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE facepay_http_requests_total counter\n");
        for ((method, route, status), n) in &counts.requests {
            let _ = writeln!(
                out,
                "facepay_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP facepay_http_request_duration_seconds Time from request to response, per route.\n",
        );
        out.push_str("# TYPE facepay_http_request_duration_seconds histogram\n");
        for (route, histogram) in &counts.latency {
            let (method, path) = route.split_once(' ').unwrap_or(("", route));
            let labels = format!("method=\"{method}\",route=\"{path}\"");
            for (bound, n) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "facepay_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "facepay_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(out, "facepay_http_request_duration_seconds_sum{{{labels}}} {}", histogram.sum);
            let _ =
                writeln!(out, "facepay_http_request_duration_seconds_count{{{labels}}} {}", histogram.count);
        }
        out.push_str(
            "# HELP facepay_payment_decisions_total Payment decisions by outcome or decline reason.\n",
        );
        out.push_str("# TYPE facepay_payment_decisions_total counter\n");
        for (outcome, n) in &counts.decisions {
            let _ = writeln!(out, "facepay_payment_decisions_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str(
            "# HELP facepay_unauthenticated_refusals_total Requests refused before their caller proved \
             who they are, by route (not in the audit log).\n",
        );
        out.push_str("# TYPE facepay_unauthenticated_refusals_total counter\n");
        for (route, n) in &counts.unauthenticated_refusals {
            let _ = writeln!(out, "facepay_unauthenticated_refusals_total{{route=\"{route}\"}} {n}");
        }
        let samples: [(&str, &str, &str, u64); 7] = [
            ("facepay_index_faces", "gauge", "Faces in this node's face index.", node.index_faces as u64),
            (
                "facepay_core_halted",
                "gauge",
                "1 once the payment core stopped on a broken invariant.",
                u64::from(node.core_halted),
            ),
            ("facepay_audit_entries", "gauge", "Entries in the hash-chained audit log.", node.audit_entries),
            (
                "facepay_audit_head_prefix",
                "gauge",
                "The audit log's head hash, its first 48 bits.",
                node.audit_head_prefix,
            ),
            ("facepay_journal_head", "gauge", "The last journal entry this node holds.", node.journal_head),
            (
                "facepay_checkpoint_entry",
                "gauge",
                "The journal entry of the newest checkpoint.",
                node.checkpoint_entry,
            ),
            (
                "facepay_checkpoint_failures_total",
                "counter",
                "Checkpoints this node failed to write.",
                node.checkpoint_failures,
            ),
        ];
        for (name, kind, help, value) in samples {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// `method` if it is one of HTTP's standard methods, else `OTHER`.
fn bounded_method(method: &str) -> &str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    KNOWN.into_iter().find(|known| *known == method).unwrap_or("OTHER")
}

/// The node's state as the metrics show it, gathered at each scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeGauges {
    pub index_faces: usize,
    pub core_halted: bool,
    pub audit_entries: u64,
    /// The audit head's first 48 bits: a label would make a new series per entry, and 48 bits
    /// are exact in a float. The full hash is in the audit page and the logs.
    pub audit_head_prefix: u64,
    pub journal_head: u64,
    pub checkpoint_entry: u64,
    pub checkpoint_failures: u64,
}
