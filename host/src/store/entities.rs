//! Entities (teams) and their API keys.

use super::StoreError;
use crate::auth::Role;

/// An entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRecord {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether its admins operate the instance (the bootstrap entity).
    pub operator: bool,
    /// When it was created.
    pub created_at: String,
}

/// An API key as stored (never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// The key's id (shown in lists; not a secret).
    pub id: String,
    /// The entity it belongs to.
    pub entity: EntityRecord,
    /// Its role.
    pub role: Role,
    /// A label given when it was made.
    pub label: String,
    /// For an agent key: the queues it may claim from.
    pub queues: Vec<String>,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// When it was created.
    pub created_at: String,
}

/// A key just made: the only time its value is known.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key's id.
    pub id: String,
    /// The key itself.
    pub key: String,
    /// Its role.
    pub role: Role,
}

super::interface! {
    /// Entities and their API keys.
    trait EntityStore {
        /// On an empty database, creates the operator entity and its first admin key (the given one,
        /// or a new one). Returns the entity and key when it did; `None` when entities already exist.
        async fn bootstrap(
            &self,
            entity: &str,
            key: String,
        ) -> Result<Option<(EntityRecord, NewKey)>, StoreError>;
        /// Creates an entity with a first admin key.
        async fn create_entity(
            &self,
            name: &str,
            admin_key: String,
        ) -> Result<(EntityRecord, NewKey), StoreError>;
        /// The entity called `name`.
        async fn entity(&self, name: &str) -> Result<EntityRecord, StoreError>;
        /// Adds a key to an entity (`queues`: an agent key's queues, else empty).
        async fn create_key(
            &self,
            entity_id: i64,
            role: Role,
            label: &str,
            key: String,
            queues: Vec<String>,
        ) -> Result<NewKey, StoreError>;
        /// The key whose SHA-256 is `hash`, with its entity.
        async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError>;
        /// An entity's keys (id, role, label, created, an agent key's queues).
        async fn list_keys(
            &self,
            entity_id: i64,
        ) -> Result<Vec<(String, Role, String, String, Vec<String>)>, StoreError>;
        /// Deletes a key; returns its hash (so caches can drop it). An entity keeps at least one admin.
        async fn delete_key(&self, entity_id: i64, id: &str) -> Result<Vec<u8>, StoreError>;
    }
}

/// The stored form of an agent key's queues (a JSON array).
pub(crate) fn queues_text(queues: &[String]) -> String {
    serde_json::to_string(queues).expect("strings serialise")
}

/// An agent key's queues as stored.
pub(crate) fn queues_of(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a key's queues: {e}")))
}
