//! Automations: definitions stored as JSON documents, with the columns lists filter on.

use super::StoreError;
use crate::ids::AutomationId;
use crate::model::automation::Automation;

/// What `GET /v1/automations` filters on.
#[derive(Debug, Clone, Default)]
pub struct AutomationFilter {
    /// Only automations whose scope names this project or registry.
    pub project: Option<String>,
    /// Only automations whose scope names this collection.
    pub collection: Option<String>,
    /// Only automations named after this one (the last of the previous page).
    pub after: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

pub(crate) fn definition(automation: &Automation) -> String {
    serde_json::to_string(automation).expect("an automation always serialises")
}

super::interface! {
    /// Automations: definitions and the columns lists filter on.
    trait AutomationStore {
        /// Stores a new automation (Conflict when the name is taken in the entity).
        async fn insert_automation(
            &self,
            entity_id: i64,
            automation: Automation,
        ) -> Result<Automation, StoreError>;
        /// Replaces an automation's definition.
        async fn update_automation(
            &self,
            entity_id: i64,
            automation: Automation,
        ) -> Result<Automation, StoreError>;
        /// Deletes an automation. Its executions stay, with their snapshot.
        async fn delete_automation(
            &self,
            entity_id: i64,
            id: &AutomationId,
        ) -> Result<(), StoreError>;
        /// One automation of the entity.
        async fn automation(
            &self,
            entity_id: i64,
            id: &AutomationId,
        ) -> Result<Automation, StoreError>;
        /// The entity's automations, filtered, by name (a page of them when the filter says).
        async fn list_automations(
            &self,
            entity_id: i64,
            filter: AutomationFilter,
        ) -> Result<Vec<Automation>, StoreError>;
        /// Every automation with its entity id (to build the matching index at start).
        async fn all_automations(&self) -> Result<Vec<(i64, Automation)>, StoreError>;
    }
}
