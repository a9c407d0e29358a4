//! Glue between the generated `Guest` trait and [`Action`](crate::Action); used by
//! [`export_action!`](crate::export_action).

use serde_json::Value;

use crate::__bindings as b;
use crate::__bindings::herald::plugin::types as wit;
use crate::{Action, ActionError, Invocation};

/// `describe`, converted for the bindings.
pub fn describe<A: Action>() -> b::PluginInfo {
    let info = A::describe();
    b::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        config_schema: info.config_schema.to_string(),
        default_payload: info.default_payload.map(|p| p.to_string()),
        integration_kinds: info.integration_kinds,
    }
}

/// `validate-config`: the config parsed, then the plugin's own check.
pub fn validate_config<A: Action>(config: String) -> Result<(), String> {
    let value: Value =
        serde_json::from_str(&config).map_err(|e| format!("the config is not JSON: {e}"))?;
    A::validate_config(&value)
}

/// `execute`, converted both ways.
pub fn execute<A: Action>(invocation: b::Invocation) -> Result<b::Outcome, b::ActionError> {
    let invocation = Invocation::from_raw(invocation);
    match A::execute(invocation) {
        Ok(outcome) => Ok(b::Outcome {
            summary: outcome.summary,
            status: outcome.status,
        }),
        Err(ActionError::Invalid(m)) => Err(b::ActionError::Invalid(m)),
        Err(ActionError::Rejected(m)) => Err(b::ActionError::Rejected(m)),
        Err(ActionError::Transient {
            message,
            retry_after,
        }) => Err(b::ActionError::Transient(wit::TransientFailure {
            message,
            retry_after,
        })),
    }
}
