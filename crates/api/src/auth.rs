//! Who is calling. Terminals sign every request with the Ed25519 key they made at activation;
//! the signature covers the method, the path with its query, a timestamp, a nonce and the
//! body's SHA-256, so nothing of the request can be changed or replayed: a timestamp outside the
//! skew window is refused, and a nonce is accepted once per terminal within it. Every other role
//! sends an API key (`Authorization: Bearer fpk_<id>_<secret>`) whose secret's SHA-256 the core
//! keeps; it is compared in constant time.
//!
//! `TerminalSigner` is the terminal's side of the same scheme, for clients written in Rust (the
//! demo, the benchmarks, the tests).

use axum::http::{HeaderMap, Method, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use facepay_domain::{TerminalId, Timestamp};
use facepay_payments::{ApiKeyId, PaymentCore, Role, SecretHash};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

pub const HEADER_TERMINAL: &str = "x-facepay-terminal";
pub const HEADER_TIMESTAMP: &str = "x-facepay-timestamp";
pub const HEADER_NONCE: &str = "x-facepay-nonce";
pub const HEADER_SIGNATURE: &str = "x-facepay-signature";

/// A nonce is 16 to 64 characters of `[A-Za-z0-9_-]`.
const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// The bytes a terminal signs.
pub fn signed_message(
    method: &str,
    path_and_query: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = hex(&Sha256::digest(body));
    format!("facepay-v1\n{method}\n{path_and_query}\n{timestamp_ms}\n{nonce}\n{body_hash}").into_bytes()
}

pub fn sha256(bytes: &[u8]) -> SecretHash {
    Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source works");
    bytes
}

pub fn random_u128() -> u128 {
    u128::from_le_bytes(random_bytes())
}

/// A fresh API key: its id, the text handed to its holder once, and the hash the core keeps.
pub fn new_api_key() -> (ApiKeyId, String, SecretHash) {
    let id = ApiKeyId(random_u128());
    let secret: [u8; 32] = random_bytes();
    let text = format!("fpk_{:032x}_{}", id.0, hex(&secret));
    (id, text, sha256(&secret))
}

/// The API key in the `Authorization` header: its id and secret, as sent.
pub fn bearer_key(headers: &HeaderMap) -> Result<(ApiKeyId, [u8; 32]), ApiError> {
    let missing = || ApiError::unauthorized("api_key_missing", "send `Authorization: Bearer fpk_...`");
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(missing)?;
    let text = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or_else(missing)?;
    parse_api_key(text)
        .ok_or_else(|| ApiError::unauthorized("api_key_malformed", "an API key reads fpk_<32 hex>_<64 hex>"))
}

/// The role of key `id` if its secret matches and it is not revoked; `None` when the core does
/// not know the id (it may have been issued on another node: the caller catches up and asks
/// again).
pub fn key_role(core: &PaymentCore, id: ApiKeyId, secret: &[u8; 32]) -> Option<Result<Role, ApiError>> {
    let key = core.api_key(id)?;
    let matches: bool = key.secret_hash.ct_eq(&sha256(secret)).into();
    Some(if matches && !key.revoked { Ok(key.role) } else { Err(invalid_key()) })
}

pub fn invalid_key() -> ApiError {
    ApiError::unauthorized("api_key_invalid", "the API key is unknown or revoked")
}

fn parse_api_key(text: &str) -> Option<(ApiKeyId, [u8; 32])> {
    let rest = text.strip_prefix("fpk_")?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || !lower_hex(id) {
        return None;
    }
    let id = u128::from_str_radix(id, 16).ok()?;
    Some((ApiKeyId(id), unhex::<32>(secret)?))
}

/// Whether `text` is hex digits in the one form this switch writes them: lower case. An id has one
/// spelling, so a key, a nonce or a rate bucket named by it cannot be doubled by changing case.
fn lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !lower_hex(text) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The terminal's signature headers, parsed but not yet checked.
#[derive(Debug)]
pub struct SignedHeaders {
    pub terminal: TerminalId,
    timestamp_ms: i64,
    nonce: String,
    signature: Signature,
}

impl SignedHeaders {
    pub fn parse(headers: &HeaderMap) -> Result<SignedHeaders, ApiError> {
        let get = |name: &'static str| {
            headers.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                ApiError::unauthorized(
                    "signature_missing",
                    format!("a terminal request carries the {name} header"),
                )
            })
        };
        let malformed =
            |what: &str| ApiError::unauthorized("signature_malformed", format!("the {what} is malformed"));
        let terminal = parse_terminal_id(get(HEADER_TERMINAL)?).ok_or_else(|| malformed("terminal id"))?;
        // One spelling only (no sign, no leading zeros): the signature covers the number, so a
        // header written another way must not pass for the request that was signed.
        let timestamp_text = get(HEADER_TIMESTAMP)?;
        let timestamp_ms = timestamp_text
            .parse::<i64>()
            .ok()
            .filter(|ms| ms.to_string() == timestamp_text)
            .ok_or_else(|| malformed("timestamp"))?;
        let nonce = get(HEADER_NONCE)?;
        let nonce_ok = NONCE_LEN.contains(&nonce.len())
            && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(malformed("nonce (16 to 64 of A-Z a-z 0-9 - _)"));
        }
        let signature = BASE64.decode(get(HEADER_SIGNATURE)?).map_err(|_| malformed("signature"))?;
        let signature = Signature::from_slice(&signature).map_err(|_| malformed("signature"))?;
        Ok(SignedHeaders { terminal, timestamp_ms, nonce: nonce.to_owned(), signature })
    }

    /// Checks the signature against the terminal's key and the timestamp against the skew
    /// window; returns until when the nonce must stay spent. The caller spends it in the store
    /// (`Journal::claim_nonce`) only when this held.
    pub fn verify(
        &self,
        public_key: &[u8; 32],
        method: &Method,
        uri: &Uri,
        body: &[u8],
        now_ms: i64,
        skew_ms: i64,
    ) -> Result<Timestamp, ApiError> {
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| ApiError::internal("a terminal's stored public key does not parse"))?;
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let message = signed_message(method.as_str(), path, self.timestamp_ms, &self.nonce, body);
        key.verify_strict(&message, &self.signature).map_err(|_| {
            ApiError::unauthorized("signature_invalid", "the signature does not match the request")
        })?;
        // A distance that cannot wrap: a timestamp near i64::MIN is far, not near.
        if now_ms.abs_diff(self.timestamp_ms) > skew_ms.unsigned_abs() {
            return Err(ApiError::unauthorized(
                "signature_expired",
                "the request's timestamp is outside the allowed clock skew; check the terminal's clock",
            ));
        }
        // Within the skew the timestamp is near now, so this cannot overflow.
        Ok(Timestamp::from_unix_ms(self.timestamp_ms + skew_ms.abs()))
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

pub fn parse_terminal_id(text: &str) -> Option<TerminalId> {
    parse_prefixed(text, "trm_").map(TerminalId::from_u128)
}

/// A typed id as `Display` writes it: the prefix and 32 hex digits.
pub fn parse_prefixed(text: &str, prefix: &str) -> Option<u128> {
    let digits = text.strip_prefix(prefix)?;
    if digits.len() != 32 || !lower_hex(digits) {
        return None;
    }
    u128::from_str_radix(digits, 16).ok()
}

/// A terminal's key pair and the headers it signs requests with.
#[derive(Debug)]
pub struct TerminalSigner {
    pub terminal: TerminalId,
    key: SigningKey,
}

impl TerminalSigner {
    /// A fresh key pair, made on the terminal (its private half never leaves it).
    pub fn generate(terminal: TerminalId) -> TerminalSigner {
        TerminalSigner { terminal, key: SigningKey::from_bytes(&random_bytes()) }
    }

    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.key.verifying_key().as_bytes())
    }

    /// The four headers for a request, with a fresh nonce.
    pub fn headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_ms: i64,
    ) -> [(&'static str, String); 4] {
        let nonce = hex(&random_bytes::<16>());
        self.headers_with(method, path_and_query, body, now_ms, &nonce)
    }

    /// The headers with a chosen nonce (tests replay one on purpose).
    pub fn headers_with(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_ms: i64,
        nonce: &str,
    ) -> [(&'static str, String); 4] {
        let signature = self.key.sign(&signed_message(method, path_and_query, now_ms, nonce, body));
        [
            (HEADER_TERMINAL, self.terminal.to_string()),
            (HEADER_TIMESTAMP, now_ms.to_string()),
            (HEADER_NONCE, nonce.to_owned()),
            (HEADER_SIGNATURE, BASE64.encode(signature.to_bytes())),
        ]
    }
}

/// The public key a terminal sent at activation, base64 of 32 bytes, checked to be a valid
/// curve point.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], ApiError> {
    let bad =
        || ApiError::bad_request("public_key_malformed", "public_key is the base64 of a 32-byte Ed25519 key");
    let bytes: [u8; 32] = BASE64.decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
    Ok(bytes)
}
