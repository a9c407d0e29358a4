//! The rules that make an automation valid on its own: name, scope, the event kinds valid in that
//! scope, the rate limit and the metric condition's shape.

use super::metric;
use crate::events::event::check_name;
use crate::model::automation::{Automation, Scope, ScopeKind};

/// A rule an automation breaks: which field, and why (the API answers 400 with both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DefinitionError {
    /// The field, e.g. `scope` or `event.filter`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks the rules that need nothing but the automation itself: name, scope, the event kinds
/// valid in that scope, the rate limit and the metric condition's shape. (The filter, template,
/// integration and plugin config are checked by the caller, which has what they need.)
pub fn check_definition(automation: &Automation) -> Result<(), DefinitionError> {
    if automation.name.trim().is_empty() || automation.name.chars().count() > 255 {
        return Err(invalid("name", "must be 1 to 255 characters"));
    }
    if automation.name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    if automation
        .action
        .payload
        .as_ref()
        .is_some_and(|payload| !payload.is_object())
    {
        return Err(invalid("action.payload", "must be a JSON object"));
    }
    let kind = automation.event.kind;
    let in_registry = match &automation.scope {
        Scope::Entity => None,
        Scope::Project { project } => {
            check_name("scope.project", project).map_err(|e| invalid(&e.field, e.message))?;
            Some(false)
        }
        Scope::Registry { registry } => {
            check_name("scope.registry", registry).map_err(|e| invalid(&e.field, e.message))?;
            Some(true)
        }
        Scope::Collection {
            project,
            registry,
            collection,
        } => {
            check_name("scope.collection", collection).map_err(|e| invalid(&e.field, e.message))?;
            match (project, registry) {
                (Some(p), None) => {
                    check_name("scope.project", p).map_err(|e| invalid(&e.field, e.message))?;
                    Some(false)
                }
                (None, Some(r)) => {
                    check_name("scope.registry", r).map_err(|e| invalid(&e.field, e.message))?;
                    Some(true)
                }
                _ => {
                    return Err(invalid(
                        "scope",
                        "a collection scope names a project or a registry (one of them)",
                    ));
                }
            }
        }
    };
    let scope = match (&automation.scope, in_registry) {
        (Scope::Entity, _) => ScopeKind::Entity,
        (Scope::Project { .. }, _) => ScopeKind::Project,
        (Scope::Registry { .. }, _) => ScopeKind::Registry,
        (Scope::Collection { .. }, Some(false)) => ScopeKind::ProjectCollection,
        (Scope::Collection { .. }, _) => ScopeKind::RegistryCollection,
    };
    let allowed = scope.triggers();
    if !allowed.contains(&kind) {
        let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
        return Err(invalid(
            "event.type",
            format!(
                "{} is not available in {} scope (available: {})",
                kind.as_str(),
                scope.described(),
                names.join(", ")
            ),
        ));
    }
    match (&automation.event.metric, kind.is_metric()) {
        (Some(metric), true) => {
            metric::check(kind, metric).map_err(|m| invalid("event.metric", m))?
        }
        (None, true) => {
            return Err(invalid(
                "event.metric",
                format!("required for {}", kind.as_str()),
            ));
        }
        (Some(_), false) => {
            return Err(invalid(
                "event.metric",
                format!("does not apply to {}", kind.as_str()),
            ));
        }
        (None, false) => {}
    }
    if let Some(limit) = automation.rate_limit
        && (limit.max == 0 || limit.per_seconds == 0)
    {
        return Err(invalid(
            "rate_limit",
            "max and per_seconds must be at least 1",
        ));
    }
    Ok(())
}
