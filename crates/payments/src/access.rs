//! Who may call the switch: API keys with the one role each is scoped to, and the credentials of
//! terminals (a one-time activation code, then the public key the terminal made for itself).
//!
//! It lives in the core, changed only by journaled commands, so every node replays the same
//! registry and a key revoked on one node is refused on all of them from the next command on.
//! The core keeps no secret: an API key and an activation code arrive as their SHA-256 (the API
//! hashes them) and a terminal's credential is its Ed25519 public key; checking a signature or
//! comparing a hash in constant time is the API's job.

use std::collections::HashMap;
use std::fmt;

use facepay_domain::{MerchantId, ShopperId, TerminalId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::issuer::IssuerId;

/// A SHA-256 digest of a secret the core must not keep (an API key, an activation code).
pub type SecretHash = [u8; 32];

/// An Ed25519 public key, as its 32 bytes.
pub type PublicKey = [u8; 32];

/// The public half of an API key; the secret half is only ever seen by its holder.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ApiKeyId(pub u128);

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key_{:032x}", self.0)
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What an API key may do, and for whom: each key has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Runs the switch: merchants, risk, limits, the emergency switch.
    Operator,
    /// A merchant (or its acquirer acting for it): its own terminals, payments and refunds.
    Merchant(MerchantId),
    /// A bank: its own accounts and settlement.
    Issuer(IssuerId),
    /// A shopper's app: their own consent, face, PIN, limits and accounts.
    Shopper(ShopperId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub secret_hash: SecretHash,
    pub role: Role,
    pub revoked: bool,
}

/// What a terminal holds to prove itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TerminalCredentials {
    /// Waiting for the terminal to activate with it: the code's hash and when it lapses.
    pub activation: Option<(SecretHash, Timestamp)>,
    /// Set by activation; every request the terminal signs is checked against it.
    pub public_key: Option<PublicKey>,
    /// For good: a revoked terminal can never be activated again (a replacement is a new one).
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("API key {0} already exists")]
    ApiKeyTaken(ApiKeyId),
    #[error("API key {0} does not exist")]
    UnknownApiKey(ApiKeyId),
    #[error("the activation code is wrong or was already used")]
    ActivationCodeWrong,
    #[error("the activation code has expired; ask the merchant for a new one")]
    ActivationCodeExpired,
    #[error("the terminal was revoked")]
    TerminalRevoked,
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::ApiKeyTaken(_) => "api_key_taken",
            AccessError::UnknownApiKey(_) => "api_key_unknown",
            AccessError::ActivationCodeWrong => "activation_code_wrong",
            AccessError::ActivationCodeExpired => "activation_code_expired",
            AccessError::TerminalRevoked => "terminal_revoked",
        }
    }
}

/// The registry itself; the core owns one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Access {
    keys: HashMap<ApiKeyId, ApiKey>,
    terminals: HashMap<TerminalId, TerminalCredentials>,
}

impl Access {
    pub(crate) fn api_key(&self, id: ApiKeyId) -> Option<&ApiKey> {
        self.keys.get(&id)
    }

    pub(crate) fn has_operator_key(&self) -> bool {
        self.keys.values().any(|key| key.role == Role::Operator && !key.revoked)
    }

    pub(crate) fn issue_api_key(
        &mut self,
        id: ApiKeyId,
        secret_hash: SecretHash,
        role: Role,
    ) -> Result<(), AccessError> {
        if self.keys.contains_key(&id) {
            return Err(AccessError::ApiKeyTaken(id));
        }
        self.keys.insert(id, ApiKey { secret_hash, role, revoked: false });
        Ok(())
    }

    pub(crate) fn revoke_api_key(&mut self, id: ApiKeyId) -> Result<(), AccessError> {
        self.keys.get_mut(&id).ok_or(AccessError::UnknownApiKey(id))?.revoked = true;
        Ok(())
    }

    /// Revokes every key of `role` (a shopper who deleted everything).
    pub(crate) fn revoke_role(&mut self, role: Role) {
        self.keys.values_mut().filter(|key| key.role == role).for_each(|key| key.revoked = true);
    }

    pub(crate) fn terminal(&self, id: TerminalId) -> Option<&TerminalCredentials> {
        self.terminals.get(&id)
    }

    /// A new one-time code for the terminal; the terminal's current key stops working when it
    /// activates with it (replacing a terminal's hardware keeps its id and history).
    pub(crate) fn issue_activation_code(
        &mut self,
        terminal: TerminalId,
        code_hash: SecretHash,
        expires_at: Timestamp,
    ) -> Result<(), AccessError> {
        let credentials = self.terminals.entry(terminal).or_default();
        if credentials.revoked {
            return Err(AccessError::TerminalRevoked);
        }
        credentials.activation = Some((code_hash, expires_at));
        Ok(())
    }

    pub(crate) fn activate(
        &mut self,
        terminal: TerminalId,
        code_hash: &SecretHash,
        public_key: PublicKey,
        now: Timestamp,
    ) -> Result<(), AccessError> {
        let credentials = self.terminals.get_mut(&terminal).ok_or(AccessError::ActivationCodeWrong)?;
        if credentials.revoked {
            return Err(AccessError::TerminalRevoked);
        }
        let (expected, expires_at) = credentials.activation.ok_or(AccessError::ActivationCodeWrong)?;
        // Both sides are hashes of a random code, so comparing them reveals nothing of the code.
        if expected != *code_hash {
            return Err(AccessError::ActivationCodeWrong);
        }
        if now > expires_at {
            return Err(AccessError::ActivationCodeExpired);
        }
        credentials.activation = None;
        credentials.public_key = Some(public_key);
        Ok(())
    }

    pub(crate) fn revoke_terminal(&mut self, terminal: TerminalId) {
        let credentials = self.terminals.entry(terminal).or_default();
        *credentials = TerminalCredentials { activation: None, public_key: None, revoked: true };
    }
}
