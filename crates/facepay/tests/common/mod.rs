//! What the tests that run the real `facepay serve` share: the binary started on a free loopback
//! port with its data in a folder, and the address it printed once it was serving.
#![allow(clippy::disallowed_methods)] // runs a real process and waits for it

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// `facepay serve` with its data in `data` and `env` set besides; the child and its address.
pub fn serve(data: &Path, env: &[(&str, String)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_facepay"))
        .arg("serve")
        .env("FACEPAY_DATA_DIR", data)
        .env("FACEPAY_LISTEN", "127.0.0.1:0")
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (found, address) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some((_, bound)) = line.split_once(" on http://") {
                let _ = found.send(format!("http://{bound}"));
            }
        }
    });
    let address = address.recv_timeout(Duration::from_secs(120)).expect("serve printed its address");
    (child, address)
}
