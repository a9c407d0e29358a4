//! The API's response bodies: each route returns one of these and documents the same type, so
//! the OpenAPI document and the answers cannot drift apart (a test validates real answers against
//! the document).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Role;
use crate::automations::{Automation, TriggerKind};
use crate::store::{ExecutionRecord, IngestOutcome, IntegrationRecord, SecretRecord};

/// `GET /v1/me`: who the calling key is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeOut {
    /// The key's entity.
    pub entity: String,
    /// The key's role.
    pub role: Role,
    /// The key's id.
    pub key_id: String,
    /// Whether the entity is the operator's (it may create entities).
    pub operator: bool,
}

/// A key as created: the key itself is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewKeyOut {
    /// The key's id.
    pub id: String,
    /// The key (`hk_…`).
    pub key: String,
    /// Its role.
    pub role: Role,
    /// Its label.
    pub label: String,
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyOut {
    /// The key's id.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its label.
    pub label: String,
    /// When it was created.
    pub created_at: String,
}

/// `GET …/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeysOut {
    /// The entity's keys.
    pub keys: Vec<KeyOut>,
}

/// The first admin key of a new entity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminKeyOut {
    /// The key's id.
    pub id: String,
    /// The key (shown once).
    pub key: String,
}

/// `POST /v1/entities`: the entity and its first admin key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewEntityOut {
    /// The entity's name.
    pub entity: String,
    /// When it was created.
    pub created_at: String,
    /// Its first admin key.
    pub admin_key: AdminKeyOut,
}

/// `PUT …/secrets/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretSetOut {
    /// The secret's name.
    pub name: String,
    /// Whether it was created (else replaced).
    pub created: bool,
}

/// `GET …/secrets`: names and times, never values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretsOut {
    /// The entity's secrets.
    pub secrets: Vec<SecretRecord>,
}

/// `GET …/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationsOut {
    /// The entity's integrations.
    pub integrations: Vec<IntegrationRecord>,
}

/// An automation as listed: its definition plus the summary columns of the automations view.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AutomationRow {
    /// The definition.
    #[serde(flatten)]
    pub automation: Automation,
    /// What triggers it.
    pub trigger_type: TriggerKind,
    /// The action's plugin.
    pub action_type: String,
    /// The integration it sends through, or the plugin's name when it takes none.
    pub action_name: String,
    /// The launch queue it enqueues on, if any.
    pub queue: Option<String>,
}

impl From<Automation> for AutomationRow {
    fn from(automation: Automation) -> Self {
        Self {
            trigger_type: automation.event.kind,
            action_type: automation.action.plugin.clone(),
            action_name: automation
                .action
                .integration
                .clone()
                .unwrap_or_else(|| automation.action.plugin.clone()),
            queue: automation.queue().map(str::to_string),
            automation,
        }
    }
}

/// `GET /v1/automations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AutomationsOut {
    /// The automations that match the filters.
    pub automations: Vec<AutomationRow>,
}

/// `GET /v1/automations/{id}/executions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionsOut {
    /// Newest first.
    pub executions: Vec<ExecutionRecord>,
}

/// `POST /v1/events/batch`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchOut {
    /// One outcome per event, in order.
    pub events: Vec<IngestOutcome>,
    /// Executions created in all.
    pub matched: usize,
}

/// `GET /v1/events/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    /// The event as posted, with `received_at`.
    #[schema(value_type = Object)]
    pub event: Value,
    /// The executions it triggered.
    pub executions: Vec<ExecutionRecord>,
}

/// An installed action plugin.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginsOut {
    /// Every installed plugin.
    pub plugins: Vec<crate::plugins::PluginOut>,
}

/// `POST …/integrations/{name}/test`: the request as sent (secrets redacted) and the answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestOut {
    /// Whether a response came back.
    pub sent: bool,
    /// The receiver's answer (status, headers, body), if one came.
    #[schema(value_type = Option<Object>)]
    pub response: Value,
    /// Why there was no answer, or why the plugin failed.
    #[schema(value_type = Option<Object>)]
    pub error: Value,
    /// The request as sent: method, URL, headers and body, secrets redacted.
    #[schema(value_type = Object)]
    pub request: Value,
    /// How long the exchange took.
    #[schema(value_type = Option<f64>)]
    pub duration_ms: Value,
}
