//! The variables an event exposes to payload templates and plugins, computed once per event and
//! automation.

use serde_json::{Map, Value};

use super::event::{Event, EventType, MetricContext};

/// A template variable: its name, which events set it, and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct VariableDoc {
    /// The name, as written in `${name}`.
    pub name: &'static str,
    /// Which events set it (on the others it is `""`).
    pub set_by: SetBy,
    /// What it holds.
    pub about: &'static str,
}

/// Every variable a template may use, besides `artifact_metadata.KEY` and secrets.
pub const VARIABLES: [VariableDoc; 27] = [
    VariableDoc {
        name: "event_type",
        set_by: SetBy::Every,
        about: "The event's type: `CREATE_ARTIFACT`, `LINK_ARTIFACT`, `ADD_ARTIFACT_ALIAS`, `RUN_STATE`, `RUN_METRIC`, or an operational one (`INTEGRATION_DISABLED`, `INTEGRATION_ENABLED`, `EXECUTION_FAILING`, `EXECUTION_EXHAUSTED`, `EXECUTION_RECOVERED`).",
    },
    VariableDoc {
        name: "event_author",
        set_by: SetBy::Every,
        about: "Who caused the event (the posting client's `author`).",
    },
    VariableDoc {
        name: "entity_name",
        set_by: SetBy::Every,
        about: "The entity.",
    },
    VariableDoc {
        name: "project_name",
        set_by: SetBy::Posted,
        about: "The project, or the registry for registry events.",
    },
    VariableDoc {
        name: "automation_name",
        set_by: SetBy::Every,
        about: "The automation that fired.",
    },
    VariableDoc {
        name: "event_id",
        set_by: SetBy::Every,
        about: "The event's id.",
    },
    VariableDoc {
        name: "occurred_at",
        set_by: SetBy::Every,
        about: "When the event happened (RFC 3339).",
    },
    VariableDoc {
        name: "artifact_collection_name",
        set_by: SetBy::Artifact,
        about: "The collection (registered model) the version is in.",
    },
    VariableDoc {
        name: "artifact_version",
        set_by: SetBy::Artifact,
        about: "The version's address: `herald-artifact://entity/project/collection:version`.",
    },
    VariableDoc {
        name: "artifact_version_string",
        set_by: SetBy::Artifact,
        about: "`entity/project/collection:alias-or-version`.",
    },
    VariableDoc {
        name: "artifact_version_index",
        set_by: SetBy::Artifact,
        about: "The version's index (a number), when the client sent one.",
    },
    VariableDoc {
        name: "alias",
        set_by: SetBy::AliasAdded,
        about: "The alias added (`production`, ...).",
    },
    VariableDoc {
        name: "run_id",
        set_by: SetBy::Run,
        about: "The run's id.",
    },
    VariableDoc {
        name: "run_name",
        set_by: SetBy::Run,
        about: "The run's display name (its id when it has none).",
    },
    VariableDoc {
        name: "run_state",
        set_by: SetBy::RunState,
        about: "The run's new state: `RUNNING`, `FINISHED` or `FAILED` (a `CRASHED` run is `FAILED`).",
    },
    VariableDoc {
        name: "reason",
        set_by: SetBy::RunStateOrOperational,
        about: "Why the run is in that state, when the event says: `cancelled` for a launched run stopped by a cancel, or why a launched run failed without ending (its agent was lost). For an operational event: why the integration was disabled, or why the attempt failed.",
    },
    VariableDoc {
        name: "exit_code",
        set_by: SetBy::LaunchedRunEnded,
        about: "Its process's exit code (128 + the signal's number when a signal ended it).",
    },
    VariableDoc {
        name: "output_tail",
        set_by: SetBy::LaunchedRunEnded,
        about: "The last lines of its output (at most 4 KiB).",
    },
    VariableDoc {
        name: "step",
        set_by: SetBy::Sample,
        about: "The step the client reported, when it sent one.",
    },
    VariableDoc {
        name: "metric_name",
        set_by: SetBy::RunMetric,
        about: "The metric whose condition held.",
    },
    VariableDoc {
        name: "metric_value",
        set_by: SetBy::RunMetric,
        about: "The value compared: the aggregate, the change or the z-score.",
    },
    VariableDoc {
        name: "metric_values",
        set_by: SetBy::RunMetric,
        about: "The values the condition looked at, oldest first.",
    },
    VariableDoc {
        name: "metric_condition",
        set_by: SetBy::RunMetric,
        about: "The condition, in words.",
    },
    VariableDoc {
        name: "integration_name",
        set_by: SetBy::Operational,
        about: "The integration that was disabled or enabled, or that the execution sends through.",
    },
    VariableDoc {
        name: "source_automation_name",
        set_by: SetBy::Execution,
        about: "The automation whose execution is failing, exhausted or recovered.",
    },
    VariableDoc {
        name: "source_execution_id",
        set_by: SetBy::Execution,
        about: "That execution's id.",
    },
    VariableDoc {
        name: "attempt",
        set_by: SetBy::Execution,
        about: "The attempt that failed (or succeeded), 1 for the first.",
    },
];

/// Which events set a variable: in words (docs/plugins.md, the API) and as event types (what
/// the console offers for the event an automation waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// Every event.
    Every,
    /// Every event a client posts (not the operational ones).
    Posted,
    /// `CREATE_ARTIFACT`, `LINK_ARTIFACT`, `ADD_ARTIFACT_ALIAS`.
    Artifact,
    /// `ADD_ARTIFACT_ALIAS`.
    AliasAdded,
    /// `RUN_STATE`, `RUN_METRIC`.
    Run,
    /// `RUN_STATE`.
    RunState,
    /// `RUN_STATE` and the operational events.
    RunStateOrOperational,
    /// `RUN_STATE`, of a launched run that ended.
    LaunchedRunEnded,
    /// `RUN_METRIC`, for the automation whose metric condition held.
    RunMetric,
    /// `RUN_METRIC`, when the sample has a step.
    Sample,
    /// The operational events.
    Operational,
    /// `EXECUTION_FAILING`, `EXECUTION_EXHAUSTED`, `EXECUTION_RECOVERED`.
    Execution,
}

impl SetBy {
    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Every => "every event",
            Self::Posted => "every posted event",
            Self::Artifact => "artifact events",
            Self::AliasAdded => "ADD_ARTIFACT_ALIAS",
            Self::Run => "run events",
            Self::RunState => "RUN_STATE",
            Self::RunStateOrOperational => "RUN_STATE, operational events",
            Self::LaunchedRunEnded => "RUN_STATE of a launched run that ended",
            Self::RunMetric => "RUN_METRIC automations",
            Self::Sample => "RUN_METRIC, with a step",
            Self::Operational => "operational events",
            Self::Execution => "EXECUTION_* events",
        }
    }

    /// The event types that set it.
    pub fn event_types(self) -> Vec<EventType> {
        use EventType as T;
        let every = EventType::ALL.into_iter().chain(EventType::OPERATIONAL);
        match self {
            Self::Every => every.collect(),
            Self::Posted => EventType::ALL.to_vec(),
            Self::Artifact => vec![T::CreateArtifact, T::LinkArtifact, T::AddArtifactAlias],
            Self::AliasAdded => vec![T::AddArtifactAlias],
            Self::Run => vec![T::RunState, T::RunMetric],
            Self::RunState | Self::LaunchedRunEnded => vec![T::RunState],
            Self::RunStateOrOperational => std::iter::once(T::RunState)
                .chain(EventType::OPERATIONAL)
                .collect(),
            Self::RunMetric | Self::Sample => vec![T::RunMetric],
            Self::Operational => EventType::OPERATIONAL.to_vec(),
            Self::Execution => vec![
                T::ExecutionFailing,
                T::ExecutionExhausted,
                T::ExecutionRecovered,
            ],
        }
    }
}

/// Every variable name a template may use, besides `artifact_metadata.KEY` and secrets.
pub fn variable_names() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().map(|v| v.name)
}

/// The prefix of per-key artifact metadata variables, e.g. `artifact_metadata.accuracy`.
pub const METADATA_PREFIX: &str = "artifact_metadata.";

/// Whether `name` is a variable (as opposed to, possibly, a secret).
pub fn is_variable(name: &str) -> bool {
    variable_names().any(|known| known == name)
        || name
            .strip_prefix(METADATA_PREFIX)
            .is_some_and(|key| !key.is_empty())
}

/// An event's variables, name → value; variables that do not apply are `""`.
#[derive(Debug, Clone, PartialEq)]
pub struct Variables(Map<String, Value>);

/// A float as JSON: a number, or the string JSON uses for a non-finite one.
pub fn float_json(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

impl Variables {
    /// The variables of `event` for the automation `automation_name`.
    pub fn of(event: &Event, automation_name: &str, metric: Option<&MetricContext>) -> Self {
        let input = &event.input;
        let text = |value: Option<&str>| Value::String(value.unwrap_or_default().to_string());
        let mut vars = Map::new();
        for name in variable_names() {
            vars.insert(name.to_string(), Value::String(String::new()));
        }
        vars.insert("event_type".into(), input.event_type.as_str().into());
        vars.insert("event_author".into(), text(input.author.as_deref()));
        vars.insert("entity_name".into(), input.entity.clone().into());
        vars.insert("project_name".into(), input.project_name().into());
        vars.insert("automation_name".into(), automation_name.into());
        vars.insert("event_id".into(), event.id.as_str().into());
        vars.insert("occurred_at".into(), event.occurred_at.clone().into());

        if let (Some(collection), Some(version)) = (&input.collection, &input.version) {
            let path = format!("{}/{}/{}", input.entity, input.project_name(), collection);
            let alias_or_version = input.alias.as_deref().unwrap_or(version);
            vars.insert("artifact_collection_name".into(), collection.clone().into());
            vars.insert(
                "artifact_version".into(),
                format!("herald-artifact://{path}:{version}").into(),
            );
            vars.insert(
                "artifact_version_string".into(),
                format!("{path}:{alias_or_version}").into(),
            );
            if let Some(index) = input.version_index {
                vars.insert("artifact_version_index".into(), index.into());
            }
            vars.insert("alias".into(), text(input.alias.as_deref()));
            for (key, value) in input.metadata.iter().flatten() {
                vars.insert(format!("{METADATA_PREFIX}{key}"), value.clone());
            }
        }
        if input.run_id.is_some() {
            vars.insert("run_id".into(), text(input.run_id.as_deref()));
            vars.insert(
                "run_name".into(),
                text(input.run_name.as_deref().or(input.run_id.as_deref())),
            );
            if input.event_type == EventType::RunState {
                vars.insert("run_state".into(), text(input.state.map(|s| s.as_str())));
                vars.insert("reason".into(), text(input.reason.as_deref()));
                if let Some(code) = input.exit_code {
                    vars.insert("exit_code".into(), code.into());
                }
                vars.insert("output_tail".into(), text(input.output_tail.as_deref()));
            }
            if let Some(step) = input.step {
                vars.insert("step".into(), step.into());
            }
        }
        if input.event_type.is_operational() {
            vars.insert("reason".into(), text(input.reason.as_deref()));
            vars.insert(
                "integration_name".into(),
                text(input.integration.as_deref()),
            );
            vars.insert(
                "source_automation_name".into(),
                text(input.automation.as_deref()),
            );
            vars.insert(
                "source_execution_id".into(),
                text(input.execution_id.as_deref()),
            );
            if let Some(attempt) = input.attempt {
                vars.insert("attempt".into(), attempt.into());
            }
        }
        if let Some(metric) = metric {
            vars.insert("metric_name".into(), metric.name.clone().into());
            vars.insert("metric_value".into(), metric.value.clone());
            vars.insert("metric_values".into(), metric.values.clone());
            vars.insert("metric_condition".into(), metric.condition.clone().into());
        }
        Self(vars)
    }

    /// A variable's value: `Some("")` for a known variable that does not apply, `None` for a
    /// name that is not a variable of this event.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The variables as JSON text, as the plugin receives them.
    pub fn to_json(&self) -> String {
        // A map's serialisation cannot fail (its keys are strings).
        serde_json::to_string(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod docs {
    use super::{METADATA_PREFIX, VARIABLES};

    /// docs/plugins.md lists the variables a plugin receives: exactly these, as described here.
    #[test]
    fn the_contract_page_lists_every_variable() {
        let page = include_str!("../../../docs/plugins.md");
        let start = page
            .find("| variable | set by | holds |")
            .expect("the table");
        let table: Vec<&str> = page[start..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect();
        let expected: Vec<String> = VARIABLES
            .iter()
            .map(|v| format!("| `{}` | {} | {} |", v.name, v.set_by.label(), v.about))
            .collect();
        assert_eq!(table[..expected.len()], expected[..], "docs/plugins.md");
        assert_eq!(table.len(), expected.len() + 1, "one more row: metadata");
        assert!(table[expected.len()].starts_with(&format!("| `{METADATA_PREFIX}KEY`")));
    }
}

#[cfg(test)]
mod set_by {
    use serde_json::{Value, json};

    use super::{EventType, VARIABLES, Variables};
    use crate::model::event::{Event, EventInput};
    use crate::model::metric::MetricContext;

    /// A value for each field an event may carry.
    fn sample(field: &str) -> Value {
        match field {
            "version_index" | "exit_code" | "attempt" | "step" => json!(3),
            "aliases" => json!(["latest"]),
            "metadata" => json!({"accuracy": 0.9}),
            "metrics" => json!({"loss": 0.5}),
            "state" => json!("FAILED"),
            other => json!(format!("{other}-1")),
        }
    }

    /// Each variable's declared event types are exactly those whose fullest event sets it: what
    /// the console offers for an event type is what a template will get.
    #[test]
    fn the_declared_event_types_are_those_that_set_each_variable() {
        let mut wrong = Vec::new();
        for event_type in EventType::ALL.into_iter().chain(EventType::OPERATIONAL) {
            let shape = event_type.shape();
            let mut body = json!({"type": event_type.as_str(), "entity": "e", "author": "ana"});
            for field in shape.required.iter().chain(shape.optional) {
                // An alias event is in a project or a registry, not both.
                if event_type == EventType::AddArtifactAlias && *field == "registry" {
                    continue;
                }
                body[*field] = sample(field);
            }
            let input: EventInput = serde_json::from_value(body).expect("a full event parses");
            let metric = (event_type == EventType::RunMetric).then(|| MetricContext {
                name: "loss".into(),
                value: json!(0.5),
                values: json!([0.5]),
                condition: "loss > 0.1".into(),
            });
            let variables = Variables::of(&Event::new(input), "auto", metric.as_ref());
            for doc in VARIABLES {
                let set = variables.get(doc.name).is_some_and(|v| v != "");
                let declared = doc.set_by.event_types().contains(&event_type);
                if set != declared {
                    wrong.push(format!(
                        "${{{}}} on {}: set {set}, declared {declared}",
                        doc.name,
                        event_type.as_str()
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
