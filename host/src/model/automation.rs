//! The automation model: scope, trigger, action, rate limit, and the bodies that create and
//! change one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::EventType;
use crate::ids::AutomationId;

/// Where an automation listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Scope {
    /// Every project and registry of the entity, present and future.
    Entity,
    /// One project.
    Project {
        /// The project's name.
        #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
        project: String,
    },
    /// One registry.
    Registry {
        /// The registry's name.
        #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
        registry: String,
    },
    /// One collection (a registered model, in a registry), in a project or a registry.
    Collection {
        /// The project holding it (or `registry`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
        project: Option<String>,
        /// The registry holding it (or `project`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
        registry: Option<String>,
        /// The collection's name.
        #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
        collection: String,
    },
}

/// The kinds of scope, each with the event kinds an automation in it may wait for: a registry
/// has no runs and creates no artifacts; a project links nothing (linking is into a registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// The whole entity.
    Entity,
    /// One project.
    Project,
    /// One registry.
    Registry,
    /// A collection in a project.
    ProjectCollection,
    /// A collection in a registry.
    RegistryCollection,
}

impl ScopeKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Entity,
        Self::Project,
        Self::Registry,
        Self::ProjectCollection,
        Self::RegistryCollection,
    ];

    /// The event kinds an automation in this scope may wait for.
    pub fn triggers(self) -> &'static [TriggerKind] {
        use TriggerKind::*;
        match self {
            Self::Entity => &[
                CreateArtifact,
                LinkArtifact,
                AddArtifactAlias,
                RunState,
                RunMetricThreshold,
                RunMetricChange,
                RunMetricZscore,
                IntegrationDisabled,
                IntegrationEnabled,
                ExecutionFailing,
                ExecutionExhausted,
                ExecutionRecovered,
            ],
            Self::Project => &[
                CreateArtifact,
                AddArtifactAlias,
                RunState,
                RunMetricThreshold,
                RunMetricChange,
                RunMetricZscore,
            ],
            Self::Registry | Self::RegistryCollection => &[LinkArtifact, AddArtifactAlias],
            Self::ProjectCollection => &[CreateArtifact, AddArtifactAlias],
        }
    }

    /// The kind as a form offers it: "A project", "A collection in a registry", ...
    pub fn label(self) -> &'static str {
        match self {
            Self::Entity => "The whole entity",
            Self::Project => "A project",
            Self::Registry => "A registry",
            Self::ProjectCollection => "A collection in a project",
            Self::RegistryCollection => "A collection in a registry",
        }
    }

    /// The kind in words, for messages: "a project", "a registry collection", ...
    pub fn described(self) -> &'static str {
        match self {
            Self::Entity => "an entity",
            Self::Project => "a project",
            Self::Registry => "a registry",
            Self::ProjectCollection => "a project collection",
            Self::RegistryCollection => "a registry collection",
        }
    }
}

/// What an automation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TriggerKind {
    /// A new artifact version in a collection.
    CreateArtifact,
    /// An artifact version linked into a registry.
    LinkArtifact,
    /// An alias added to an artifact version.
    AddArtifactAlias,
    /// A run changed state.
    RunState,
    /// A run metric crossed a threshold.
    RunMetricThreshold,
    /// A run metric changed by an amount.
    RunMetricChange,
    /// A run metric's newest value is an outlier (z-score).
    RunMetricZscore,
    /// Operational: an integration was disabled.
    IntegrationDisabled,
    /// Operational: an integration was enabled again.
    IntegrationEnabled,
    /// Operational: an execution keeps failing (its `failing_after_attempts`-th attempt failed).
    ExecutionFailing,
    /// Operational: an execution failed for good.
    ExecutionExhausted,
    /// Operational: an execution that was failing succeeded.
    ExecutionRecovered,
}

impl TriggerKind {
    /// Every kind, in the order forms offer them.
    pub const ALL: [Self; 12] = [
        Self::CreateArtifact,
        Self::LinkArtifact,
        Self::AddArtifactAlias,
        Self::RunState,
        Self::RunMetricThreshold,
        Self::RunMetricChange,
        Self::RunMetricZscore,
        Self::IntegrationDisabled,
        Self::IntegrationEnabled,
        Self::ExecutionFailing,
        Self::ExecutionExhausted,
        Self::ExecutionRecovered,
    ];

    /// What the kind waits for, as a form offers it.
    pub fn label(self) -> &'static str {
        match self {
            Self::CreateArtifact => "A new artifact version is created",
            Self::LinkArtifact => "An artifact version is linked to a registry",
            Self::AddArtifactAlias => "An alias is added to an artifact version",
            Self::RunState => "A run changes state",
            Self::RunMetricThreshold => "A run metric crosses a threshold",
            Self::RunMetricChange => "A run metric changes by an amount",
            Self::RunMetricZscore => "A run metric is an outlier (z-score)",
            Self::IntegrationDisabled => "An integration is disabled",
            Self::IntegrationEnabled => "An integration is enabled again",
            Self::ExecutionFailing => "An execution keeps failing",
            Self::ExecutionExhausted => "An execution fails for good",
            Self::ExecutionRecovered => "A failing execution succeeds",
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateArtifact => "CREATE_ARTIFACT",
            Self::LinkArtifact => "LINK_ARTIFACT",
            Self::AddArtifactAlias => "ADD_ARTIFACT_ALIAS",
            Self::RunState => "RUN_STATE",
            Self::RunMetricThreshold => "RUN_METRIC_THRESHOLD",
            Self::RunMetricChange => "RUN_METRIC_CHANGE",
            Self::RunMetricZscore => "RUN_METRIC_ZSCORE",
            Self::IntegrationDisabled => "INTEGRATION_DISABLED",
            Self::IntegrationEnabled => "INTEGRATION_ENABLED",
            Self::ExecutionFailing => "EXECUTION_FAILING",
            Self::ExecutionExhausted => "EXECUTION_EXHAUSTED",
            Self::ExecutionRecovered => "EXECUTION_RECOVERED",
        }
    }

    /// The trigger kinds an event of this type is matched against. For `RUN_METRIC` samples
    /// these are the metric kinds: the automations found are candidates, and fire only when
    /// their metric condition holds on the run's window (`automations::runs`).
    pub fn for_event(event_type: EventType) -> &'static [TriggerKind] {
        match event_type {
            EventType::CreateArtifact => &[Self::CreateArtifact],
            EventType::LinkArtifact => &[Self::LinkArtifact],
            EventType::AddArtifactAlias => &[Self::AddArtifactAlias],
            EventType::RunState => &[Self::RunState],
            EventType::RunMetric => &[
                Self::RunMetricThreshold,
                Self::RunMetricChange,
                Self::RunMetricZscore,
            ],
            EventType::IntegrationDisabled => &[Self::IntegrationDisabled],
            EventType::IntegrationEnabled => &[Self::IntegrationEnabled],
            EventType::ExecutionFailing => &[Self::ExecutionFailing],
            EventType::ExecutionExhausted => &[Self::ExecutionExhausted],
            EventType::ExecutionRecovered => &[Self::ExecutionRecovered],
        }
    }

    /// The type of the events this kind waits for (the inverse of [`Self::for_event`]).
    pub fn event_type(self) -> EventType {
        *EventType::ALL
            .iter()
            .chain(EventType::OPERATIONAL.iter())
            .find(|t| Self::for_event(**t).contains(&self))
            .expect("every trigger kind waits for some event type")
    }

    pub(crate) fn is_metric(self) -> bool {
        matches!(
            self,
            Self::RunMetricThreshold | Self::RunMetricChange | Self::RunMetricZscore
        )
    }
}

/// The trigger: an event kind, an optional filter on the event's fields, and (for metric kinds)
/// the metric condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The event kind.
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// A filter on the event's fields: a MongoDB-style condition (`$and $or $nor $not $eq $ne $gt
    /// $gte $lt $lte $in $nin $exists $regex $contains`; several keys = and; a bare value = `$eq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// The metric condition, for `RUN_METRIC_*` kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metric: Option<Value>,
}

/// What runs: a plugin, the integration it sends through, a payload template and plugin config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// The plugin's name (`webhook`, `slack`, ... or an installed third-party plugin).
    #[serde(rename = "type")]
    pub plugin: String,
    /// The integration's name, where the plugin needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// The payload template (a JSON object), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// The plugin's config (validated by the plugin).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// At most `max` executions per `per_seconds`; the rest are recorded as `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Executions allowed per window (≥ 1).
    #[serde(deserialize_with = "crate::model::whole::integer")]
    #[schema(minimum = 1)]
    pub max: u32,
    /// The window, in seconds (≥ 1).
    #[serde(deserialize_with = "crate::model::whole::integer")]
    #[schema(minimum = 1)]
    pub per_seconds: u32,
}

impl RateLimit {
    /// Why an execution over the limit was skipped.
    pub fn refusal(&self) -> String {
        format!(
            "rate limit: at most {} per {} s",
            self.max, self.per_seconds
        )
    }
}

/// An automation as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Automation {
    /// Its id.
    pub id: AutomationId,
    /// The entity it belongs to.
    pub entity: String,
    /// Its name, unique in the entity (1–255 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Disabled automations match nothing.
    pub enabled: bool,
    /// Where it listens.
    pub scope: Scope,
    /// What it waits for.
    pub event: Trigger,
    /// What runs.
    pub action: ActionSpec,
    /// An optional rate limit.
    pub rate_limit: Option<RateLimit>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
    /// When it last started listening anew (RFC 3339): created, enabled again, or its scope or
    /// event (filter, metric condition) changed. A metric condition sees only samples from then
    /// on: its window and cooldown start empty. Empty for automations saved before the field
    /// existed (then: `created_at`).
    #[serde(default)]
    pub armed_at: String,
}

/// The body of `POST /v1/automations`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationInput {
    /// The entity (defaults to the key's).
    #[serde(default)]
    pub entity: Option<String>,
    /// The name, unique in the entity: no control characters, not only white space.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Enabled unless `false`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where it listens.
    pub scope: Scope,
    /// What it waits for.
    pub event: Trigger,
    /// What runs.
    pub action: ActionSpec,
    /// An optional rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

impl AutomationInput {
    /// A new automation of entity `entity` with this definition, created (and armed) at `now`.
    pub fn into_automation(self, entity: &str, now: String) -> Automation {
        Automation {
            id: AutomationId::generate(),
            entity: entity.to_string(),
            name: self.name,
            description: self.description,
            enabled: self.enabled,
            scope: self.scope,
            event: self.event,
            action: self.action,
            rate_limit: self.rate_limit,
            created_at: now.clone(),
            updated_at: now.clone(),
            armed_at: now,
        }
    }
}

fn yes() -> bool {
    true
}

/// The body of `PATCH /v1/automations/{id}`: any subset of the fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationPatch {
    /// A new name (as in [`AutomationInput::name`]).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// A new scope.
    pub scope: Option<Scope>,
    /// A new trigger.
    pub event: Option<Trigger>,
    /// A new action.
    pub action: Option<ActionSpec>,
    /// A new rate limit (`null` removes it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<RateLimit>>, D::Error> {
    Option::<RateLimit>::deserialize(d).map(Some)
}

impl Automation {
    /// Applies a patch; the result still has to be validated.
    pub fn patched(&self, patch: AutomationPatch) -> Self {
        let mut next = self.clone();
        if let Some(name) = patch.name {
            next.name = name;
        }
        if let Some(description) = patch.description {
            next.description = description;
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        if let Some(scope) = patch.scope {
            next.scope = scope;
        }
        if let Some(event) = patch.event {
            next.event = event;
        }
        if let Some(action) = patch.action {
            next.action = action;
        }
        if let Some(rate_limit) = patch.rate_limit {
            next.rate_limit = rate_limit;
        }
        next
    }

    /// Whether `next` (this automation changed) listens anew: enabled again, or a different
    /// scope or event. A rename, a new action or rate limit keeps its windows and cooldowns.
    pub fn rearmed_by(&self, next: &Automation) -> bool {
        (!self.enabled && next.enabled) || self.scope != next.scope || self.event != next.event
    }

    /// The project or registry the scope names (for list filters).
    pub fn scope_space(&self) -> Option<&str> {
        match &self.scope {
            Scope::Entity => None,
            Scope::Project { project } => Some(project),
            Scope::Registry { registry } => Some(registry),
            Scope::Collection {
                project, registry, ..
            } => project.as_deref().or(registry.as_deref()),
        }
    }

    /// The collection the scope names.
    pub fn scope_collection(&self) -> Option<&str> {
        match &self.scope {
            Scope::Collection { collection, .. } => Some(collection),
            _ => None,
        }
    }

    /// The launch queue the action enqueues to, if it is a launch action.
    pub fn queue(&self) -> Option<&str> {
        self.action.config.get("queue").and_then(Value::as_str)
    }
}
