//! The `webhook` action: POSTs the automation's rendered payload to the integration URL, or,
//! when the automation has no template, a default document describing the event.

use herald_sdk::{Action, ActionError, Invocation, NoConfig, Outcome, PluginInfo, http};
use serde_json::{Map, Value};

struct Webhook;

impl Action for Webhook {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "webhook",
            env!("CARGO_PKG_VERSION"),
            "POSTs a JSON payload to the integration's URL, signed and authorised by the host.",
        )
        .integration_kinds(&["webhook"])
    }

    fn execute(invocation: Invocation, _config: NoConfig) -> Result<Outcome, ActionError> {
        let url = invocation.integration_url()?;
        let body = match invocation.payload() {
            // Sent byte for byte: the host signs exactly these bytes.
            Some(rendered) => rendered.as_bytes().to_vec(),
            None => serde_json::to_vec(&default_document(&invocation))
                .expect("a JSON value always serialises"),
        };
        let response = http::Request::post(url)
            .json_bytes(body)
            .send()?
            .classify()?;
        Ok(Outcome::delivered(response.status))
    }
}

/// The document sent when the automation has no payload template: the headline fields first,
/// then every event variable.
fn default_document(invocation: &Invocation) -> Value {
    let mut document = Map::new();
    for (key, variable) in [
        ("event_type", "event_type"),
        ("event_author", "event_author"),
        ("entity_name", "entity_name"),
        ("project_name", "project_name"),
    ] {
        document.insert(key.into(), Value::String(invocation.var_str(variable)));
    }
    document.insert(
        "automation_name".into(),
        invocation.automation_name().into(),
    );
    document.insert("execution_id".into(), invocation.execution_id().into());
    // For a run-metric automation: what crossed and by how much, in words.
    let metric = invocation.facts().metric;
    if !metric.is_empty() {
        document.insert("metric".into(), metric.into());
    }
    document.insert(
        "variables".into(),
        Value::Object(invocation.variables().clone()),
    );
    Value::Object(document)
}

herald_sdk::export_action!(Webhook);
