//! The event model: what clients post, checked field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::event_type::{COMMON_FIELDS, EventShape, EventType};
use super::metric::metrics_field;
pub use super::metric::{MetricContext, MetricValue, SpecialFloat};
use crate::ids::EventId;

/// A run's state. `CRASHED` is accepted and stored as `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Started and running.
    Running,
    /// Ended well.
    Finished,
    /// Ended badly.
    #[serde(alias = "CRASHED")]
    Failed,
}

impl RunState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
        }
    }
}

/// The fields of an event as filters see it (its JSON form): a filter naming another field is
/// refused when it is saved, since it could never match. Of these, only `metadata` and
/// `metrics` hold fields of their own (`metadata.accuracy`).
pub const FILTER_FIELDS: [&str; 25] = [
    "type",
    "entity",
    "project",
    "registry",
    "author",
    "collection",
    "version",
    "version_index",
    "aliases",
    "alias",
    "metadata",
    "source_artifact",
    "run_id",
    "run_name",
    "state",
    "reason",
    "exit_code",
    "output_tail",
    "step",
    "metrics",
    "integration",
    "automation",
    "execution_id",
    "attempt",
    "occurred_at",
];

/// The fields only operational events carry.
const OPERATIONAL_FIELDS: [&str; 4] = ["integration", "automation", "execution_id", "attempt"];

/// The most a `RUN_STATE` event's `output_tail` may hold.
pub const MAX_OUTPUT_TAIL_BYTES: usize = 4 << 10;

/// The fields of [`FILTER_FIELDS`] that are objects.
pub const FILTER_OBJECT_FIELDS: [&str; 2] = ["metadata", "metrics"];

/// An event as a client posts it (`POST /v1/events`). Which fields apply depends on `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The entity (team) the event happened in.
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub entity: String,
    /// The project, for events in a project (never together with `registry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub project: Option<String>,
    /// The registry, for events in a model registry (never together with `project`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub registry: Option<String>,
    /// Who caused the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Artifact events: the collection (a registered model, in a registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub collection: Option<String>,
    /// Artifact events: the version, e.g. `v3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub version: Option<String>,
    /// Artifact events: the version's index.
    #[serde(
        deserialize_with = "crate::model::whole::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_index: Option<u64>,
    /// Artifact events: the version's aliases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    /// `ADD_ARTIFACT_ALIAS`: the alias added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub alias: Option<String>,
    /// `CREATE_ARTIFACT`: the artifact's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// `LINK_ARTIFACT`: the source artifact that was linked (`entity/project/collection:version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_artifact: Option<String>,
    /// Run events: the run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub run_id: Option<String>,
    /// Run events: the run's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_name: Option<String>,
    /// `RUN_STATE`: the new state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
    /// `RUN_STATE`: why the run is in that state, e.g. `cancelled` (at most 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub reason: Option<String>,
    /// `RUN_STATE` of a launched run that ended: its process's exit code.
    #[serde(
        deserialize_with = "crate::model::whole::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exit_code: Option<i32>,
    /// `RUN_STATE` of a launched run that ended: the last lines of its output (at most 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4096)]
    pub output_tail: Option<String>,
    /// `RUN_METRIC`: the step the sample was logged at.
    #[serde(
        deserialize_with = "crate::model::whole::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub step: Option<u64>,
    /// `RUN_METRIC`: metric name → value (numbers, or `"NaN"`, `"Infinity"`, `"-Infinity"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "metrics_field"
    )]
    #[schema(value_type = Option<BTreeMap<String, MetricValue>>)]
    pub metrics: Option<BTreeMap<String, MetricValue>>,
    /// Operational events: the integration concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub integration: Option<String>,
    /// `EXECUTION_*` events: the name of the automation whose execution it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<String>,
    /// `EXECUTION_*` events: the execution's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// `EXECUTION_*` events: the attempt that failed or succeeded (1 for the first).
    #[serde(
        deserialize_with = "crate::model::whole::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attempt: Option<u32>,
    /// When it happened (RFC 3339, any offset); the time of ingest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
}

/// An invalid event: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name (a JSON path for nested fields).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Checks a name used in a scope path (entity, project, registry, collection).
pub fn check_name(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.chars().count() > 128 {
        return Err(field_error(field, "must be 1 to 128 characters"));
    }
    if value.contains(['/', ':']) || value.chars().any(char::is_control) {
        return Err(field_error(
            field,
            "must not contain `/`, `:` or control characters",
        ));
    }
    Ok(())
}

impl EventInput {
    /// The project or registry name the event happened in.
    pub fn project_name(&self) -> &str {
        self.project
            .as_deref()
            .or(self.registry.as_deref())
            .unwrap_or_default()
    }

    /// Whether the event happened in a registry.
    pub fn in_registry(&self) -> bool {
        self.registry.is_some()
    }

    /// Checks the fields the event type requires and forbids.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("entity", &self.entity)?;
        if self.event_type.is_operational() {
            return self.validate_operational();
        }
        for field in OPERATIONAL_FIELDS {
            if self.operational_field(field) {
                return Err(field_error(
                    field,
                    format!("does not apply to {}", self.event_type.as_str()),
                ));
            }
        }
        match (&self.project, &self.registry) {
            (Some(_), Some(_)) => {
                return Err(field_error(
                    "registry",
                    "an event names a project or a registry, not both",
                ));
            }
            (None, None) => return Err(field_error("project", "required (or `registry`)")),
            (Some(project), None) => check_name("project", project)?,
            (None, Some(registry)) => check_name("registry", registry)?,
        }
        let kind = self.event_type;
        match kind {
            EventType::LinkArtifact if self.registry.is_none() => {
                return Err(field_error(
                    "registry",
                    "LINK_ARTIFACT happens in a registry",
                ));
            }
            EventType::CreateArtifact | EventType::RunState | EventType::RunMetric
                if self.project.is_none() =>
            {
                return Err(field_error(
                    "project",
                    format!("{} happens in a project", kind.as_str()),
                ));
            }
            _ => {}
        }
        let require = |field: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(field_error(
                    field,
                    format!("required for {}", kind.as_str()),
                ))
            }
        };
        let forbid = |field: &str, present: bool| {
            if present {
                Err(field_error(
                    field,
                    format!("does not apply to {}", kind.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        if kind.is_artifact() {
            require("collection", self.collection.is_some())?;
            check_name("collection", self.collection.as_deref().unwrap_or_default())?;
            require("version", self.version.is_some())?;
            check_name("version", self.version.as_deref().unwrap_or_default())?;
            for field in ["run_id", "run_name", "state", "step", "metrics"] {
                forbid(field, self.has_run_field(field))?;
            }
        } else {
            require("run_id", self.run_id.is_some())?;
            check_name("run_id", self.run_id.as_deref().unwrap_or_default())?;
            for (field, present) in [
                ("collection", self.collection.is_some()),
                ("version", self.version.is_some()),
                ("version_index", self.version_index.is_some()),
                ("aliases", self.aliases.is_some()),
                ("alias", self.alias.is_some()),
                ("metadata", self.metadata.is_some()),
                ("source_artifact", self.source_artifact.is_some()),
            ] {
                forbid(field, present)?;
            }
        }
        match kind {
            EventType::AddArtifactAlias => {
                require("alias", self.alias.is_some())?;
                check_name("alias", self.alias.as_deref().unwrap_or_default())?;
            }
            _ => forbid("alias", self.alias.is_some())?,
        }
        match kind {
            EventType::RunState => {
                require("state", self.state.is_some())?;
                if self
                    .reason
                    .as_ref()
                    .is_some_and(|r| r.chars().count() > 255)
                {
                    return Err(field_error("reason", "at most 255 characters"));
                }
                if self
                    .output_tail
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > MAX_OUTPUT_TAIL_BYTES)
                {
                    return Err(field_error(
                        "output_tail",
                        format!("at most {MAX_OUTPUT_TAIL_BYTES} characters"),
                    ));
                }
            }
            _ => {
                forbid("state", self.state.is_some())?;
                forbid("reason", self.reason.is_some())?;
                forbid("exit_code", self.exit_code.is_some())?;
                forbid("output_tail", self.output_tail.is_some())?;
            }
        }
        match kind {
            EventType::RunMetric => {
                let metrics = self.metrics.as_ref().filter(|m| !m.is_empty());
                require("metrics", metrics.is_some())?;
            }
            _ => {
                forbid("metrics", self.metrics.is_some())?;
                forbid("step", self.step.is_some())?;
            }
        }
        if let Some(at) = &self.occurred_at {
            super::instant::parse(at)
                .map_err(|e| field_error("occurred_at", format!("not an RFC 3339 time: {e}")))?;
        }
        Ok(())
    }

    /// An operational event: in the entity (no project or registry), with exactly the fields
    /// its shape names.
    fn validate_operational(&self) -> Result<(), FieldError> {
        let kind = self.event_type;
        let shape = kind.shape();
        let present = [
            ("project", self.project.is_some()),
            ("registry", self.registry.is_some()),
            ("collection", self.collection.is_some()),
            ("version", self.version.is_some()),
            ("version_index", self.version_index.is_some()),
            ("aliases", self.aliases.is_some()),
            ("alias", self.alias.is_some()),
            ("metadata", self.metadata.is_some()),
            ("source_artifact", self.source_artifact.is_some()),
            ("run_id", self.run_id.is_some()),
            ("run_name", self.run_name.is_some()),
            ("state", self.state.is_some()),
            ("reason", self.reason.is_some()),
            ("exit_code", self.exit_code.is_some()),
            ("output_tail", self.output_tail.is_some()),
            ("step", self.step.is_some()),
            ("metrics", self.metrics.is_some()),
        ]
        .into_iter()
        .chain(OPERATIONAL_FIELDS.map(|f| (f, self.operational_field(f))));
        for (field, present) in present {
            if shape.required.contains(&field) && !present {
                return Err(field_error(
                    field,
                    format!("required for {}", kind.as_str()),
                ));
            }
            if present && !shape.required.contains(&field) && !shape.optional.contains(&field) {
                return Err(field_error(
                    field,
                    format!("does not apply to {}", kind.as_str()),
                ));
            }
        }
        if let Some(name) = &self.integration {
            check_name("integration", name)?;
        }
        if let Some(name) = &self.automation {
            check_name("automation", name)?;
        }
        if let Some(id) = &self.execution_id {
            check_name("execution_id", id)?;
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 255)
        {
            return Err(field_error("reason", "at most 255 characters"));
        }
        Ok(())
    }

    fn operational_field(&self, field: &str) -> bool {
        match field {
            "integration" => self.integration.is_some(),
            "automation" => self.automation.is_some(),
            "execution_id" => self.execution_id.is_some(),
            "attempt" => self.attempt.is_some(),
            _ => false,
        }
    }

    fn has_run_field(&self, field: &str) -> bool {
        match field {
            "run_id" => self.run_id.is_some(),
            "run_name" => self.run_name.is_some(),
            "state" => self.state.is_some(),
            "step" => self.step.is_some(),
            "metrics" => self.metrics.is_some(),
            _ => false,
        }
    }
}

/// A stored event: the input plus the id and time the host gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event id.
    pub id: EventId,
    /// When it happened, RFC 3339.
    pub occurred_at: String,
    /// What the client posted.
    #[serde(flatten)]
    pub input: EventInput,
    /// Posted for a launched run (with its run token, or by the launch host): its liveness is
    /// its queue item's lease, not what it sends. Not stored.
    #[serde(skip)]
    pub launched: bool,
}

impl Event {
    /// Gives a validated input an id (a UUIDv7) and a time (its own, or now).
    pub fn new(input: EventInput) -> Self {
        let occurred_at = input.occurred_at.clone().unwrap_or_else(|| {
            humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
        });
        Self {
            id: EventId::generate(),
            occurred_at,
            input,
            launched: false,
        }
    }

    /// The same event, marked as one of a launched run.
    pub fn of_launched_run(mut self) -> Self {
        self.launched = true;
        self
    }
}

/// Milliseconds since the Unix epoch of a point in time (0 before it).
pub fn unix_ms(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(), String> {
        let input: EventInput = serde_json::from_str(json).map_err(|e| e.to_string())?;
        input.validate().map_err(|e| e.to_string())
    }

    /// A value each field could hold, valid for it.
    fn sample(field: &str) -> serde_json::Value {
        match field {
            "version_index" | "exit_code" | "step" | "attempt" => serde_json::json!(1),
            "aliases" => serde_json::json!(["latest"]),
            "metadata" => serde_json::json!({"a": 1}),
            "metrics" => serde_json::json!({"loss": 0.5}),
            "state" => serde_json::json!("FAILED"),
            _ => serde_json::json!("x1"),
        }
    }

    fn valid(event: &serde_json::Value) -> bool {
        serde_json::from_value::<EventInput>(event.clone()).is_ok_and(|e| e.validate().is_ok())
    }

    #[test]
    fn validation_holds_to_each_types_shape() {
        let every: Vec<&str> = FILTER_FIELDS
            .iter()
            .copied()
            .filter(|f| !COMMON_FIELDS.contains(f))
            .chain(["reason", "exit_code", "output_tail"])
            .collect();
        for kind in EventType::ALL.into_iter().chain(EventType::OPERATIONAL) {
            let shape = kind.shape();
            let mut minimal = serde_json::json!({"type": kind, "entity": "e"});
            for field in shape.required {
                minimal[*field] = sample(field);
            }
            if kind == EventType::AddArtifactAlias {
                minimal["project"] = sample("project");
            }
            assert!(valid(&minimal), "{kind:?}: {minimal}");
            for field in shape.required {
                let mut without = minimal.clone();
                without.as_object_mut().unwrap().remove(*field);
                assert!(!valid(&without), "{kind:?} without {field}");
                without[*field] = serde_json::Value::Null;
                assert!(!valid(&without), "{kind:?} with null {field}");
            }
            for field in &every {
                let mut with = minimal.clone();
                with[*field] = sample(field);
                let allowed = shape.required.contains(field) || shape.optional.contains(field);
                // `project` and `registry` together are never allowed.
                let both = kind == EventType::AddArtifactAlias && *field == "registry";
                assert_eq!(valid(&with), allowed && !both, "{kind:?} with {field}");
                with[*field] = serde_json::Value::Null;
                // (An alias event's `project` is the one place it names: null leaves none.)
                let its_place = kind == EventType::AddArtifactAlias && *field == "project";
                if !shape.required.contains(field) && !its_place {
                    assert!(valid(&with), "{kind:?} with null {field}");
                }
            }
        }
    }

    #[test]
    fn every_field_a_form_asks_for_is_a_field_of_the_event() {
        for kind in EventType::ALL {
            for field in kind.fields() {
                assert!(FILTER_FIELDS.contains(field), "{kind:?}: {field}");
            }
        }
    }

    #[test]
    fn filter_fields_are_exactly_the_fields_an_event_has() {
        let every: EventInput = serde_json::from_value(serde_json::json!({
            "type": "CREATE_ARTIFACT", "entity": "e", "project": "p", "registry": "r",
            "author": "a", "collection": "c", "version": "v1", "version_index": 1,
            "aliases": ["x"], "alias": "x", "metadata": {}, "source_artifact": "s",
            "run_id": "r", "run_name": "n", "state": "FAILED", "reason": "cancelled",
            "exit_code": 1, "output_tail": "x", "step": 1, "metrics": {"m": 1},
            "integration": "ci", "automation": "a", "execution_id": "x", "attempt": 1,
            "occurred_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let value = serde_json::to_value(&every).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, FILTER_FIELDS);
    }

    #[test]
    fn accepts_the_design_example() {
        parse(r#"{"type":"LINK_ARTIFACT","entity":"acme","registry":"models","collection":"churn","version":"v3","author":"ana"}"#).unwrap();
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        let e = parse(r#"{"type":"LINK_ARTIFACT","entity":"acme","project":"p","collection":"c","version":"v1"}"#).unwrap_err();
        assert!(e.starts_with("registry:"), "{e}");
        let e = parse(r#"{"type":"ADD_ARTIFACT_ALIAS","entity":"acme","project":"p","collection":"c","version":"v1"}"#).unwrap_err();
        assert!(e.starts_with("alias:"), "{e}");
        let e = parse(
            r#"{"type":"RUN_STATE","entity":"a/b","project":"p","run_id":"r","state":"FAILED"}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("entity:"), "{e}");
        let e = parse(r#"{"type":"RUN_STATE","entity":"a","project":"p","run_id":"r","state":"FAILED","colour":1}"#).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn crashed_is_failed() {
        let input: EventInput = serde_json::from_str(
            r#"{"type":"RUN_STATE","entity":"a","project":"p","run_id":"r","state":"CRASHED"}"#,
        )
        .unwrap();
        assert_eq!(input.state, Some(RunState::Failed));
    }
}
