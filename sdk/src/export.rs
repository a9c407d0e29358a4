//! Glue between the generated `Guest` trait and [`Action`](crate::Action); used by
//! [`export_action!`](crate::export_action).

pub use crate::__bindings::exports::herald::plugin::action::Guest;
pub use crate::__bindings::herald::plugin::types as wit;

use crate::{Action, ActionError, Invocation};

/// `describe`, with the config schema derived from the action's `Config` type.
pub fn describe<A: Action>() -> wit::PluginInfo {
    let info = A::describe();
    wit::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        config_schema: crate::config::schema_of::<A::Config>(),
        default_payload: info.default_payload.map(|p| p.to_string()),
        integration_kinds: info.integration_kinds,
    }
}

/// `validate-config`: the config parsed into the action's type, then the plugin's own check.
pub fn validate_config<A: Action>(config: String) -> Result<(), String> {
    let config = crate::config::parse::<A::Config>(&config)?;
    A::check_config(&config)
}

/// `execute`, converted both ways. The host checked the config when the automation was saved;
/// it is checked again here because a plugin upgrade may have changed what it accepts.
pub fn execute<A: Action>(invocation: wit::Invocation) -> Result<wit::Outcome, wit::ActionError> {
    let config = crate::config::parse::<A::Config>(&invocation.config)
        .and_then(|config| A::check_config(&config).map(|()| config))
        .map_err(|message| wit::ActionError::Invalid(format!("action config: {message}")))?;
    let invocation = Invocation::from_raw(invocation);
    match A::execute(invocation, config) {
        Ok(outcome) => Ok(wit::Outcome {
            summary: outcome.summary,
            status: outcome.status,
        }),
        Err(ActionError::Invalid(m)) => Err(wit::ActionError::Invalid(m)),
        Err(ActionError::Rejected(m)) => Err(wit::ActionError::Rejected(m)),
        Err(ActionError::Transient {
            message,
            retry_after,
        }) => Err(wit::ActionError::Transient(wit::TransientFailure {
            message,
            retry_after,
        })),
    }
}
