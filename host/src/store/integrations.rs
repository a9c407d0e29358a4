//! Integrations: an entity's named destinations and the secrets they use.

use super::StoreError;
use crate::delivery::integration::IntegrationKind;

/// An integration as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationRecord {
    /// Its id.
    pub id: String,
    /// Its name, unique in the entity.
    pub name: String,
    /// What it points at.
    pub kind: IntegrationKind,
    /// Where requests go (empty when `url_secret` holds it).
    pub url: String,
    /// The secret whose value is the URL, when the URL is itself a credential.
    pub url_secret: Option<String>,
    /// The secret sent as `Authorization: Bearer`.
    pub access_token: Option<String>,
    /// The secret that signs requests.
    pub signing_secret: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

pub(crate) const COLUMNS: &str =
    "id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret";

super::interface! {
    /// Integrations: an entity's named destinations.
    trait IntegrationStore {
        /// Creates an integration (Conflict on a taken name).
        fn create_integration(&self, entity_id: i64, record: IntegrationRecord) -> Result<IntegrationRecord, StoreError>;
        /// Replaces an integration's fields (by id).
        fn update_integration(&self, entity_id: i64, record: IntegrationRecord) -> Result<IntegrationRecord, StoreError>;
        /// The integration called `name`.
        fn integration(&self, entity_id: i64, name: &str) -> Result<IntegrationRecord, StoreError>;
        /// An entity's integrations, by name.
        fn list_integrations(&self, entity_id: i64) -> Result<Vec<IntegrationRecord>, StoreError>;
        /// Deletes an integration; refused (Conflict, naming them) while automations use it.
        fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError>;
    }
}
