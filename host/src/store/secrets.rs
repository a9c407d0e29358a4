//! Entity secrets: encrypted values, names and times. Values are only ever read by delivery.

use super::{Store, StoreError};

/// A secret as listed: never its value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretRecord {
    /// Its name.
    pub name: String,
    /// When it was first set.
    pub created_at: String,
    /// When its value last changed.
    pub updated_at: String,
}

/// A secret's sealed value, and while a rotation's overlap lasts, the sealed value it replaced.
/// Only delivery opens them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Its name (the values are sealed under it).
    pub name: String,
    /// The current value's nonce.
    pub nonce: Vec<u8>,
    /// The current value, sealed.
    pub ciphertext: Vec<u8>,
    /// The value a rotation replaced, until the overlap ends.
    pub previous: Option<PreviousValue>,
}

/// The sealed value a rotation replaced, live until `until_ms` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousValue {
    /// Its nonce.
    pub nonce: Vec<u8>,
    /// The value, sealed (under the secret's name, as the current one).
    pub ciphertext: Vec<u8>,
    /// When the overlap ends.
    pub until_ms: i64,
}

impl SealedSecret {
    pub(super) fn from_columns(
        name: String,
        (nonce, ciphertext): (Vec<u8>, Vec<u8>),
        previous: (Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>),
        now_ms: i64,
    ) -> Self {
        let previous = match previous {
            (Some(nonce), Some(ciphertext), Some(until_ms)) if until_ms > now_ms => {
                Some(PreviousValue {
                    nonce,
                    ciphertext,
                    until_ms,
                })
            }
            _ => None,
        };
        Self {
            name,
            nonce,
            ciphertext,
            previous,
        }
    }
}

super::interface! {
    /// Entity secrets: sealed values, names and times.
    trait SecretStore {
        /// Sets a secret (sealed by the caller); returns true when it was new. A value set this
        /// way replaces the old one at once (a rotation's previous value included).
        async fn put_secret(
            &self,
            entity_id: i64,
            name: &str,
            nonce: Vec<u8>,
            ciphertext: Vec<u8>,
        ) -> Result<bool, StoreError>;
        /// Deletes a secret; refused (Conflict) while an integration uses it.
        async fn delete_secret(&self, entity_id: i64, name: &str) -> Result<(), StoreError>;
        /// An entity's secrets, by name.
        async fn list_secrets(&self, entity_id: i64) -> Result<Vec<SecretRecord>, StoreError>;
        /// The sealed values of the named secrets that exist, each with the value its last
        /// rotation replaced while the overlap lasts (at `now_ms`).
        async fn sealed_secrets(
            &self,
            entity_id: i64,
            names: Vec<String>,
            now_ms: i64,
        ) -> Result<Vec<SealedSecret>, StoreError>;
        /// Rotates a secret: the sealed value given becomes its value, and the one it replaces
        /// stays live until `previous_until_ms` (one previous value: a rotation during an
        /// overlap ends the older one). NotFound when there is no such secret.
        async fn rotate_secret(
            &self,
            entity_id: i64,
            name: &str,
            nonce: Vec<u8>,
            ciphertext: Vec<u8>,
            previous_until_ms: i64,
        ) -> Result<(), StoreError>;
    }
}

impl Store {
    /// The names of an entity's secrets.
    pub async fn secret_names(&self, entity_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .list_secrets(entity_id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect())
    }
}
