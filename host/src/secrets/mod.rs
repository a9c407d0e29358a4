//! Secret values at rest: ChaCha20-Poly1305 under the operator's master key, each ciphertext bound
//! to its entity and name. The master key comes from config or the environment, or is generated on
//! first start into a file only its owner can read. [`refs`] owns how a payload names a secret
//! until it is sent.

pub mod refs;
pub mod rotation;

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::auth::random_bytes;

/// Secret names: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The key that encrypts every secret, and the key derived from it that tags secret references.
#[derive(Clone)]
pub struct MasterKey {
    cipher: ChaCha20Poly1305,
    refs: refs::RefKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            refs: refs::RefKey::derive(bytes),
        }
    }

    /// The key that tags secret references in rendered payloads.
    pub fn refs(&self) -> &refs::RefKey {
        &self.refs
    }

    /// From base64 text (as in `HERALD_MASTER_KEY` or a key file).
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = BASE64
            .decode(text.trim())
            .context("the master key is not base64")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            anyhow::anyhow!("the master key must be 32 bytes, not {}", b.len())
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Reads the key file, or creates it (mode 0600) with a new random key when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_permissions(path)?;
                Self::from_base64(&text).with_context(|| format!("in {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes::<32>();
                write_private(path, BASE64.encode(bytes).as_bytes())
                    .with_context(|| format!("creating the master key file {}", path.display()))?;
                tracing::info!(path = %path.display(), "generated a new master key");
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => {
                Err(e).with_context(|| format!("reading the master key file {}", path.display()))
            }
        }
    }

    /// Encrypts a secret value; returns (nonce, ciphertext).
    pub fn seal(&self, entity_id: i64, name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
        let nonce = random_bytes::<12>();
        let aad = associated_data(entity_id, name);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("ChaCha20-Poly1305 encryption does not fail for in-memory input");
        (nonce.to_vec(), ciphertext)
    }

    /// Decrypts a stored secret; fails if the key is wrong or the row was tampered with.
    pub fn open(
        &self,
        entity_id: i64,
        name: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> anyhow::Result<String> {
        if nonce.len() != 12 {
            bail!("secret {name}: bad nonce");
        }
        let aad = associated_data(entity_id, name);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "secret {name} does not decrypt: wrong master key or a tampered row"
                )
            })?;
        String::from_utf8(plain).context("a secret is not UTF-8")
    }
}

fn associated_data(entity_id: i64, name: &str) -> Vec<u8> {
    format!("herald-secret:{entity_id}:{name}").into_bytes()
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "the master key file {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let (nonce, ciphertext) = key.seal(1, "TOKEN", "s3cret");
        assert_eq!(key.open(1, "TOKEN", &nonce, &ciphertext).unwrap(), "s3cret");
        assert!(
            key.open(2, "TOKEN", &nonce, &ciphertext).is_err(),
            "bound to the entity"
        );
        assert!(
            key.open(1, "OTHER", &nonce, &ciphertext).is_err(),
            "bound to the name"
        );
        assert!(
            MasterKey::from_bytes(&[8; 32])
                .open(1, "TOKEN", &nonce, &ciphertext)
                .is_err()
        );
        assert!(!ciphertext.windows(6).any(|w| w == b"s3cret"));
    }

    #[test]
    fn names() {
        assert!(valid_name("API_TOKEN") && valid_name("_x1"));
        assert!(!valid_name("1abc") && !valid_name("a-b") && !valid_name("") && !valid_name("a b"));
    }
}
