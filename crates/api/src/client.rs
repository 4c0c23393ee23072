//! A small blocking client of this API, for Rust programs that call a switch over HTTP: the
//! demo and `facepay bench pay`. It signs terminal requests with a `TerminalSigner` and sends
//! API keys as bearer tokens; any status comes back with its JSON body, for the caller to judge.

use std::time::Duration;

use serde_json::Value;

use crate::auth::TerminalSigner;
use crate::switch::now_ms;

#[derive(Debug)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A response: its status and JSON body (Null when it had none).
pub type Answer = Result<(u16, Value), String>;

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
        self.send(method, path, headers, bytes)
    }

    /// A terminal's request, signed now.
    pub fn signed(&self, signer: &TerminalSigner, method: &str, path: &str, body: &Value) -> Answer {
        let bytes = body.to_string().into_bytes();
        let headers = signer.headers(method, path, &bytes, now_ms()).to_vec();
        self.send(method, path, headers, bytes)
    }

    fn send(&self, method: &str, path: &str, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(body).map_err(|e| e.to_string())?;
        let mut response = self.agent.run(request).map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(16 << 20).read_to_string().map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}
