//! `facepay serve` as a service manager runs it: the real binary, stopped with SIGTERM while
//! callers keep writing. Every request is answered, or refused with `node_stopping` (changing
//! nothing), never cut off; the process exits 0 within its grace and drain bounds, and every
//! answered write is in the store when the switch starts again. Needs the runtime and models,
//! like `doctor`'s tests.
#![allow(clippy::disallowed_methods)] // waits for a real process

mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use facepay_api::Client;
use serde_json::json;
use sha2::{Digest, Sha256};

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_under_load_answers_or_refuses_every_request_and_loses_no_answered_write() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, address) = common::serve(data.path(), &[]);
    let key = std::fs::read_to_string(data.path().join("operator.key")).unwrap().trim().to_owned();

    // Four callers fund the reserve with one minor unit each, a new connection per request,
    // until the switch is gone; each notes what it heard.
    let stopping = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|caller| {
            let (address, key, stopping) = (address.clone(), key.clone(), stopping.clone());
            thread::spawn(move || {
                let (mut answered, mut cut_off) = (0u64, Vec::new());
                for n in 0.. {
                    let body = json!({ "amount_minor": 1, "funding_id": format!("c{caller}-{n}") });
                    match Client::new(&address).call("POST", "/v1/operator/reserve", Some(&key), Some(&body))
                    {
                        Ok((200, _)) => answered += 1,
                        // The operator key's rate (100 a second): refused, nothing changed.
                        Ok((429, _)) => thread::sleep(Duration::from_millis(5)),
                        // The node is stopping: a caller (or its load balancer) goes elsewhere.
                        Ok((503, body)) if body["error"]["code"] == "node_stopping" => break,
                        Ok((status, body)) => panic!("caller {caller} heard {status}: {body}"),
                        Err(err) if err.to_lowercase().contains("refused") => break,
                        Err(err) => {
                            cut_off.push(err);
                            if stopping.load(Ordering::SeqCst) {
                                break;
                            }
                        }
                    }
                }
                (answered, cut_off)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1_500));
    stopping.store(true, Ordering::SeqCst);
    terminate(&child);
    let stopped_at = Instant::now();
    let status = child.wait().unwrap();
    let stop_s = stopped_at.elapsed().as_secs_f64();
    let (mut answered, mut cut_off) = (0, Vec::new());
    for caller in callers {
        let (n, errors) = caller.join().unwrap();
        answered += n;
        cut_off.extend(errors);
    }
    assert!(status.success(), "serve exited with {status}");
    assert!(stop_s < 13.0, "stopped in {stop_s:.1} s, past the 1 s grace and the 10 s drain bound");
    assert!(answered > 20, "the load was real: {answered} answered");
    assert!(cut_off.is_empty(), "requests cut off: {cut_off:?}");

    // Started again: the reserve holds exactly what was answered (plus the one made now).
    let (mut again, address) = common::serve(data.path(), &[]);
    let body = json!({ "amount_minor": 1, "funding_id": "after" });
    let (status, balance) =
        Client::new(&address).call("POST", "/v1/operator/reserve", Some(&key), Some(&body)).unwrap();
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["balance_minor"], json!(answered + 1), "{balance}");
    terminate(&again);
    assert!(again.wait().unwrap().success());

    // What the store holds can be exported for an auditor, who checks it against its last line.
    let file = data.path().join("journal.jsonl");
    let exported = Command::new(env!("CARGO_BIN_EXE_facepay"))
        .args(["journal", "export", "--out"])
        .arg(&file)
        .env("FACEPAY_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stdout));
    let text = std::fs::read_to_string(&file).unwrap();
    let (entries, closing) = text.trim_end().rsplit_once('\n').unwrap();
    let closing: serde_json::Value = serde_json::from_str(closing).unwrap();
    assert_eq!(closing["entries"], json!(entries.lines().count()));
    assert!(entries.lines().count() as u64 > answered, "every funding is an entry");
    let digest: String =
        Sha256::digest(format!("{entries}\n").as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(closing["sha256"], json!(digest));
}
