//! Compiling an automation for matching: its filter and payload template parsed once, and the
//! snapshot that every execution it creates keeps.

use std::sync::Arc;

use serde_json::Value;

use super::Automation;
use super::index::Compiled;
use crate::events::filter::Filter;
use crate::events::template::Template;

/// Why an automation does not compile; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A filter, template or metric condition that is not well-formed.
    #[error("{0}")]
    Invalid(String),
    /// A well-formed filter whose `$regex` the regex engine does not take.
    #[error("{0}")]
    Regex(String),
}

impl From<String> for CompileError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

/// Parses what a stored automation needs to match (filter, template). Used when saving (after
/// the full checks) and when loading the index at start. An automation without a payload
/// template uses its plugin's default one (`default_payload`), if the plugin has one.
pub fn compile(
    entity_id: i64,
    automation: Automation,
    default_payload: Option<&str>,
) -> Result<Compiled, CompileError> {
    let filter = Filter::parse_for_events(automation.event.filter.as_ref().unwrap_or(&Value::Null))
        .map_err(|e| {
            let message = format!("event.filter: {e}");
            match e.unsupported_regex {
                true => CompileError::Regex(message),
                false => CompileError::Invalid(message),
            }
        })?;
    let template = template_of(&automation, default_payload)?;
    let metric = match &automation.event.metric {
        Some(metric) if automation.event.kind.is_metric() => Some(
            super::metric::MetricCondition::parse(automation.event.kind, metric)
                .map_err(|e| format!("event.metric: {e}"))?,
        ),
        _ => None,
    };
    let armed = match automation.armed_at.as_str() {
        "" => &automation.created_at,
        armed => armed,
    };
    let armed_ms = humantime::parse_rfc3339_weak(armed)
        .map(crate::events::unix_ms)
        .unwrap_or_default();
    Ok(Compiled {
        metric,
        armed_ms,
        snapshot: serde_json::to_string(&automation).expect("an automation serialises"),
        automation: Arc::new(automation),
        entity_id,
        filter,
        template,
    })
}

/// The template an automation renders: its own payload, or else its plugin's default one
/// (`default_payload`), if the plugin has one.
pub(super) fn template_of(
    automation: &Automation,
    default_payload: Option<&str>,
) -> Result<Option<Template>, String> {
    Ok(match (&automation.action.payload, default_payload) {
        (Some(tree), _) => {
            Some(Template::parse(tree.clone()).map_err(|e| format!("action.payload: {e}"))?)
        }
        (None, Some(default)) => {
            let tree = serde_json::from_str(default)
                .map_err(|e| format!("the plugin's default payload: {e}"))?;
            Some(Template::parse(tree).map_err(|e| format!("the plugin's default payload: {e}"))?)
        }
        (None, None) => None,
    })
}
