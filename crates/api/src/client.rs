//! A small blocking client of this API, for Rust programs that call a switch over HTTP: the
//! demo and `facepay bench pay`. It signs terminal requests with a `TerminalSigner` and sends
//! API keys as bearer tokens; any status comes back with its JSON body, for the caller to judge.

use std::time::Duration;

use serde_json::Value;

use crate::auth::TerminalSigner;
use crate::switch::now_ms;

/// How often a rate-limited terminal request is sent before its 429 is returned.
const RATE_LIMITED_TRIES: usize = 100;

#[derive(Debug)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A response: its status and JSON body (Null when it had none).
pub type Answer = Result<(u16, Value), String>;

/// A response with the milliseconds the server says it spent (`server-timing: app;dur=`).
pub type TimedAnswer = Result<(u16, Value, Option<f64>), String>;

impl Client {
    /// A client of the switch at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client { base: base.trim_end_matches('/').to_owned(), agent }
    }

    /// A request with the caller's API key, if any.
    pub fn call(&self, method: &str, path: &str, api_key: Option<&str>, body: Option<&Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers = Vec::new();
        if let Some(key) = api_key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        self.send_untimed(method, path, headers, bytes)
    }

    /// A terminal's request, signed now.
    pub fn signed(&self, signer: &TerminalSigner, method: &str, path: &str, body: &Value) -> Answer {
        self.signed_timed(signer, method, path, body).map(|(status, body, _)| (status, body))
    }

    /// `signed`, with the server's own time for the request. Told to slow down (429, which
    /// changed nothing), it waits and sends again, signed anew, as a terminal should.
    pub fn signed_timed(
        &self,
        signer: &TerminalSigner,
        method: &str,
        path: &str,
        body: &Value,
    ) -> TimedAnswer {
        let bytes = body.to_string().into_bytes();
        let mut tries = 0;
        loop {
            let headers = signer.headers(method, path, &bytes, now_ms()).to_vec();
            let answer = self.send(method, path, headers, bytes.clone())?;
            tries += 1;
            if answer.0 != 429 || tries >= RATE_LIMITED_TRIES {
                return Ok(answer);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn send_untimed(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Answer {
        self.send(method, path, headers, body).map(|(status, body, _)| (status, body))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> TimedAnswer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(body).map_err(|e| e.to_string())?;
        let mut response = self.agent.run(request).map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let server_ms = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("app;dur="))
            .and_then(|ms| ms.parse().ok());
        let text =
            response.body_mut().with_config().limit(16 << 20).read_to_string().map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null), server_ms))
    }
}
