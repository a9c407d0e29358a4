//! The `no-op` action: records the rendered payload in the execution and succeeds. For testing
//! automations (filters, scopes, templates) without sending anything.

use herald_sdk::{Action, ActionError, Invocation, NoConfig, Outcome, PluginInfo};

struct NoOp;

impl Action for NoOp {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "no-op",
            env!("CARGO_PKG_VERSION"),
            "Records the rendered payload and succeeds; sends nothing.",
        )
    }

    fn execute(invocation: Invocation, _config: NoConfig) -> Result<Outcome, ActionError> {
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
