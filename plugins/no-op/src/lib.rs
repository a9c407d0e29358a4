//! The `no-op` action: records the rendered payload in the execution and succeeds. For testing
//! automations (filters, scopes, templates) without sending anything.

use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo};
use serde_json::{Value, json};

struct NoOp;

impl Action for NoOp {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "no-op",
            env!("CARGO_PKG_VERSION"),
            "Records the rendered payload and succeeds; sends nothing.",
        )
        .config_schema(json!({"type": "object", "additionalProperties": false, "properties": {}}))
    }

    fn validate_config(config: &Value) -> Result<(), String> {
        match config.as_object() {
            Some(fields) if fields.is_empty() => Ok(()),
            Some(_) => Err("the no-op action takes no config".into()),
            None => Err("the action config must be a JSON object".into()),
        }
    }

    fn execute(invocation: Invocation) -> Result<Outcome, ActionError> {
        let payload = invocation
            .payload()
            .map(str::to_string)
            .unwrap_or_else(|| invocation.variables_json());
        herald_sdk::info!("payload: {payload}");
        Ok(Outcome::note(format!(
            "recorded {} bytes; nothing sent",
            payload.len()
        )))
    }
}

herald_sdk::export_action!(NoOp);
