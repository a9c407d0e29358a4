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

super::interface! {
    /// Entity secrets: sealed values, names and times.
    trait SecretStore {
        /// Sets a secret (sealed by the caller); returns true when it was new.
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
        /// The sealed values (name, nonce, ciphertext) of the named secrets that exist.
        async fn sealed_secrets(
            &self,
            entity_id: i64,
            names: Vec<String>,
        ) -> Result<Vec<(String, Vec<u8>, Vec<u8>)>, StoreError>;
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
