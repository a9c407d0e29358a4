//! The API's response bodies: each route returns one of these and documents the same type, so
//! the OpenAPI document and the answers cannot drift apart (a test validates real answers against
//! the document).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Role;
use crate::automations::{Automation, TriggerKind};
use crate::ids::{AutomationId, EventId, ExecutionId};
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

impl From<super::auth::Principal> for MeOut {
    fn from(principal: super::auth::Principal) -> Self {
        Self {
            entity: principal.entity.name,
            role: principal.role,
            key_id: principal.key_id,
            operator: principal.entity.operator,
        }
    }
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
    /// An agent key's queues.
    pub queues: Vec<String>,
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
    /// An agent key's queues.
    pub queues: Vec<String>,
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
    pub secrets: Vec<SecretOut>,
}

/// `GET …/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationsOut {
    /// The entity's integrations.
    pub integrations: Vec<IntegrationOut>,
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
    pub executions: Vec<ExecutionOut>,
}

/// `POST /v1/events/batch`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchOut {
    /// One outcome per event, in order.
    pub events: Vec<IngestOut>,
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
    pub executions: Vec<ExecutionOut>,
}

/// An installed action plugin.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginsOut {
    /// Every installed plugin.
    pub plugins: Vec<crate::plugins::PluginOut>,
}

/// What storing an event did (`POST /v1/events`, and each event of a batch).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestOut {
    /// The event's id (the first one's, for a repeated idempotency key).
    pub event_id: EventId,
    /// How many automations it triggered.
    pub matched: usize,
    /// True when the idempotency key had been seen: nothing new was created.
    pub duplicate: bool,
}

impl From<IngestOutcome> for IngestOut {
    fn from(outcome: IngestOutcome) -> Self {
        Self {
            event_id: outcome.event_id,
            matched: outcome.matched,
            duplicate: outcome.duplicate,
        }
    }
}

/// A secret as listed: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretOut {
    /// Its name.
    pub name: String,
    /// When it was first set.
    pub created_at: String,
    /// When its value last changed.
    pub updated_at: String,
}

impl From<SecretRecord> for SecretOut {
    fn from(record: SecretRecord) -> Self {
        Self {
            name: record.name,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// An integration: where requests go and the names (never values) of its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationOut {
    /// Its id.
    pub id: String,
    /// Its name, unique in the entity.
    pub name: String,
    /// What it points at.
    pub kind: crate::delivery::integration::IntegrationKind,
    /// Where requests go (empty when `url_secret` holds it).
    pub url: String,
    /// The secret whose value is the URL, when the URL is itself a credential.
    pub url_secret: Option<String>,
    /// The secret sent as `Authorization: Bearer`.
    pub access_token: Option<String>,
    /// The secret that signs requests.
    pub signing_secret: Option<String>,
    /// The secrets its automations' payload templates may reference, besides the three above.
    pub secrets: Vec<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<IntegrationRecord> for IntegrationOut {
    fn from(record: IntegrationRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            kind: record.kind,
            url: record.url,
            url_secret: record.url_secret,
            access_token: record.access_token,
            signing_secret: record.signing_secret,
            secrets: record.secrets,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// An execution: one triggering of one automation by one event, with its attempts when read
/// alone.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionOut {
    /// Its id (also the `webhook-id` receivers deduplicate on).
    pub id: ExecutionId,
    /// The event that triggered it.
    pub event_id: EventId,
    /// The automation (it may since have changed or gone; `automation` is the snapshot).
    pub automation_id: AutomationId,
    /// Where it stands.
    pub status: crate::delivery::status::ExecutionStatus,
    /// Why it has that status (the failure, or why it was skipped).
    pub status_reason: Option<String>,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// The automation as it was when the event arrived.
    #[schema(value_type = Object)]
    pub automation: Value,
    /// The rendered payload, secrets shown as `${NAME}`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Every attempt, oldest first (only in single-execution reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub attempt_log: Vec<Value>,
    /// For a metric automation: the metric, the value compared, the window and the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<crate::events::MetricContext>,
}

impl ExecutionOut {
    /// The execution as shown: its payload's secret placeholders written as `${NAME}`.
    pub(crate) fn shown(record: ExecutionRecord, refs: &crate::secrets::refs::RefKey) -> Self {
        let mut payload = record.payload;
        if let Some(payload) = &mut payload {
            refs.tag(record.id.as_str()).show(payload);
        }
        Self {
            id: record.id,
            event_id: record.event_id,
            automation_id: record.automation_id,
            status: record.status,
            status_reason: record.status_reason,
            attempts: record.attempts,
            created_at: record.created_at,
            updated_at: record.updated_at,
            automation: record.automation,
            payload,
            attempt_log: record.attempt_log,
            metric: record.metric,
        }
    }
}
