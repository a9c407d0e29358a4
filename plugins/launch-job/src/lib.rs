//! The `launch-job` action: enqueues a run of a launch job on a queue of the automation's entity,
//! with config overrides rendered from the event (`{"model": "${artifact_version_string}"}`). The
//! host checks the queue, the job and that every override is a key of the job's config.

use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo, launch, text};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The action config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The queue to put the run on.
    // `x-herald-picker`: the console offers the entity's queues (docs/plugins.md).
    #[schemars(length(min = 1, max = 128), extend("x-herald-picker" = "queue"))]
    queue: String,
    /// The job: `name` (its latest version) or `name@version`.
    #[schemars(length(min = 1, max = 140), extend("x-herald-picker" = "job"))]
    job: String,
    /// Higher runs first (default 0).
    #[serde(default)]
    priority: i32,
    /// Values for keys of the job's config; `${variables}` in strings are filled in from the event.
    #[serde(default)]
    overrides: Map<String, Value>,
}

struct LaunchJob;

impl Action for LaunchJob {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "launch-job",
            env!("CARGO_PKG_VERSION"),
            "Enqueues a run of a launch job, with config overrides rendered from the event.",
        )
    }

    fn execute(invocation: Invocation, config: Config) -> Result<Outcome, ActionError> {
        let overrides = render(&invocation, Value::Object(config.overrides));
        match launch::enqueue(&config.queue, &config.job, &overrides, config.priority) {
            Ok(item) => {
                herald_sdk::info!("enqueued {item} on {}", config.queue);
                Ok(Outcome::note(format!(
                    "enqueued {item} on {} ({})",
                    config.queue, config.job
                )))
            }
            // The queue or the job is missing, or an override is not the job's: retrying the
            // same request cannot succeed.
            Err(message) => Err(ActionError::Rejected(format!("enqueue: {message}"))),
        }
    }
}

/// Fills `${variables}` into every string of the overrides, as plain text.
fn render(invocation: &Invocation, value: Value) -> Value {
    match value {
        Value::String(template) => Value::String(invocation.render_text(&template, text::plain)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| render(invocation, v)).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, render(invocation, v)))
                .collect(),
        ),
        other => other,
    }
}

herald_sdk::export_action!(LaunchJob);
