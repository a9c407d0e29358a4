//! API keys and roles: generating keys, hashing them for storage, and what each role may do.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A key's role within its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages secrets, integrations, keys; everything a member does.
    Admin,
    /// Posts events, manages automations, reads history.
    Member,
    /// A launch agent: claims, heartbeats and finishes items of the queues its key is bound to,
    /// and nothing else.
    Agent,
}

impl Role {
    /// Whether a key of this role may be bound to `queues`: an agent key to at least one, other
    /// keys to none.
    pub fn check_queues(self, queues: &[String]) -> Result<(), &'static str> {
        match (self, queues.is_empty()) {
            (Role::Agent, true) => Err("an agent key is bound to at least one queue"),
            (Role::Admin | Role::Member, false) => Err("only an agent key is bound to queues"),
            _ => Ok(()),
        }
    }

    /// `admin`, `member` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Agent => "agent",
        }
    }

    /// Parses `admin`, `member` or `agent`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// The prefix of every key Herald generates (it makes leaked keys easy to scan for).
pub const KEY_PREFIX: &str = "hk_";

/// A new random API key: `hk_` and 32 random bytes, base64url.
pub fn generate_key() -> String {
    format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// The prefix of run tokens: what a launched job's process posts its own run's events with.
pub const RUN_TOKEN_PREFIX: &str = "hr_";

/// A new run token.
pub fn generate_run_token() -> String {
    format!(
        "{RUN_TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// A short random id, for keys and other rows that are listed.
pub fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<12>()))
}

/// What is stored of a key: its SHA-256. A key has 256 bits of entropy, so a fast hash is
/// enough; a password hash would only slow down every request.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant-time comparison of two key hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Cryptographically random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}
