//! Integrations: an entity's named destinations and the secrets they use.

use super::StoreError;
use crate::model::integration::{HeldChoice, IntegrationKind};

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
    /// The secrets its automations' templates may reference besides the three above, by name.
    pub secrets: Vec<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Its own `disable_after` in ms (0 = never), overriding the host's `[delivery]` one.
    pub disable_after_ms: Option<i64>,
    /// How its deliveries have been going; written by delivery and by enabling or disabling it,
    /// never by an update of its fields.
    pub health: IntegrationHealth,
}

/// How an integration's deliveries have been going, and whether it is disabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationHealth {
    /// Attempts through it that failed in a row (a success resets it).
    pub consecutive_failures: i64,
    /// Since when (Unix ms) its executions have failed for good with no success in between.
    pub failing_since_ms: Option<i64>,
    /// When it was disabled, if it is: its executions are held until it is enabled.
    pub disabled_at: Option<String>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

pub(crate) const COLUMNS: &str = "id, name, kind, url, access_token_secret, signing_secret, created_at, updated_at, url_secret, granted_secrets, disable_after_ms, consecutive_failures, failing_since_ms, disabled_at, disabled_reason";

/// What enabling or disabling an integration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toggled {
    /// Whether its state changed (false: it already was so).
    pub changed: bool,
    /// Held executions released (enabling) or discarded.
    pub held: usize,
}

impl IntegrationRecord {
    /// Every secret its automations may reference: its own credentials and its grants.
    pub fn may_use(&self, secret: &str) -> bool {
        [&self.access_token, &self.signing_secret, &self.url_secret]
            .into_iter()
            .any(|own| own.as_deref() == Some(secret))
            || self.secrets.iter().any(|granted| granted == secret)
    }
}

/// Why delivery disabled an integration whose executions failed for `after_ms`.
pub(crate) fn disabled_reason(after_ms: i64) -> String {
    let after = std::time::Duration::from_millis(after_ms.max(0) as u64);
    format!(
        "its executions failed for good for {} with no success in between",
        humantime::format_duration(after)
    )
}

/// The stored form of a list of granted secrets (a JSON array).
pub(crate) fn grants_text(secrets: &[String]) -> String {
    serde_json::to_string(secrets).expect("strings serialise")
}

/// The grants of a stored row: NULL (not yet granted, see [`IntegrationStore::ungranted_integrations`])
/// reads as none.
pub(crate) fn grants_of(text: Option<String>) -> Result<Vec<String>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("an integration's granted secrets: {e}"))),
    }
}

super::interface! {
    /// Integrations: an entity's named destinations.
    trait IntegrationStore {
        /// Creates an integration (Conflict on a taken name).
        async fn create_integration(
            &self,
            entity_id: i64,
            record: IntegrationRecord,
        ) -> Result<IntegrationRecord, StoreError>;
        /// Replaces an integration's fields (by id).
        async fn update_integration(
            &self,
            entity_id: i64,
            record: IntegrationRecord,
        ) -> Result<IntegrationRecord, StoreError>;
        /// The integration called `name`.
        async fn integration(
            &self,
            entity_id: i64,
            name: &str,
        ) -> Result<IntegrationRecord, StoreError>;
        /// An entity's integrations, by name.
        async fn list_integrations(
            &self,
            entity_id: i64,
        ) -> Result<Vec<IntegrationRecord>, StoreError>;
        /// Deletes an integration; refused (Conflict, naming them) while automations use it.
        async fn delete_integration(&self, entity_id: i64, name: &str) -> Result<(), StoreError>;
        /// Integrations stored before grants existed, with their entity's id: they have granted
        /// nothing yet, not even an empty list.
        async fn ungranted_integrations(&self) -> Result<Vec<(i64, IntegrationRecord)>, StoreError>;
        /// Sets the grants of an integration that has none yet (see `ungranted_integrations`);
        /// false when another host did so first.
        async fn grant_first(
            &self,
            entity_id: i64,
            id: &str,
            secrets: Vec<String>,
        ) -> Result<bool, StoreError>;
        /// Counts a failed attempt through the integration (`exhausted`: the execution's last).
        /// When its executions have failed for good for its `disable_after` (its own, else
        /// `default_disable_after_ms`; 0 never) with no success in between, disables it. The
        /// reason, when this call disabled it (once, whichever host counted the failure).
        async fn integration_failed(
            &self,
            entity_id: i64,
            name: &str,
            exhausted: bool,
            default_disable_after_ms: i64,
        ) -> Result<Option<String>, StoreError>;
        /// Disables the integration (`disabled`, with why) or enables it. Enabling clears its
        /// failure count and releases its held executions, oldest first, or fails them
        /// (`Discard`).
        async fn set_integration_disabled(
            &self,
            entity_id: i64,
            name: &str,
            disabled: Option<String>,
            held: HeldChoice,
        ) -> Result<Toggled, StoreError>;
        /// How many executions each of the entity's integrations holds (those holding any).
        async fn held_executions(&self, entity_id: i64) -> Result<Vec<(String, i64)>, StoreError>;
    }
}
