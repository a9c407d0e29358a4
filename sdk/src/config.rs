//! Action configs as Rust types: parsing, the derived JSON Schema, and [`NoConfig`].

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The config of an action that takes none: only `{}` is accepted.
///
/// # Example
///
/// ```no_run
/// use herald_sdk::{Action, ActionError, Invocation, NoConfig, Outcome, PluginInfo};
///
/// struct Ping;
///
/// impl Action for Ping {
///     type Config = NoConfig; // only `{}` is accepted
///     fn describe() -> PluginInfo {
///         PluginInfo::new("ping", "0.1.0", "Does nothing, successfully.")
///     }
///     fn execute(_invocation: Invocation, _config: NoConfig) -> Result<Outcome, ActionError> {
///         Ok(Outcome::note("pong"))
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Written out rather than derived: with an explicit empty `properties`, a validator names the
/// unexpected key ("Additional properties are not allowed ('url' was unexpected)").
impl JsonSchema for NoConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoConfig".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {},
            "additionalProperties": false,
            "description": "This action takes no config: only `{}` is accepted.",
        })
    }
}

/// Parses a config (JSON text) into the action's type; the message names what does not fit.
pub(crate) fn parse<T: DeserializeOwned>(config: &str) -> Result<T, String> {
    serde_json::from_str(config).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("the config is not JSON: {e}")
        }
        _ => e.to_string(),
    })
}

/// The JSON Schema (2020-12) of a config type, as JSON text.
pub(crate) fn schema_of<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}
