//! Operational events: what happened to an integration (disabled, enabled) or to an execution
//! (failing, exhausted, recovered), raised as an ordinary event of the entity through a sink the
//! embedder supplies (ingest), so that "a destination went down → Slack the admins" is an
//! automation like any other.

use crate::ids::ExecutionId;
use crate::model::event::{EventInput, EventType};

/// An operational event to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Operational {
    /// Which one (one of [`EventType::OPERATIONAL`]).
    pub kind: EventType,
    /// The entity's name.
    pub entity: String,
    /// The integration concerned.
    pub integration: Option<String>,
    /// `EXECUTION_*`: the automation's name, the execution and the attempt.
    pub execution: Option<(String, ExecutionId, u32)>,
    /// Why (cut to 255 characters).
    pub reason: Option<String>,
    /// What makes it once: raised again for the same cause, it is stored once.
    pub cause: String,
}

impl Operational {
    /// An `INTEGRATION_*` event; `at_ms` tells one disabling from the next.
    pub fn integration(
        kind: EventType,
        entity: &str,
        integration: &str,
        reason: Option<String>,
        at_ms: i64,
    ) -> Self {
        Self {
            kind,
            entity: entity.to_string(),
            integration: Some(integration.to_string()),
            execution: None,
            reason,
            cause: format!("{integration}\n{at_ms}"),
        }
    }

    /// An `EXECUTION_*` event about attempt `attempt` of `execution`.
    pub fn execution(
        kind: EventType,
        entity: &str,
        integration: Option<&str>,
        (automation, execution, attempt): (&str, &ExecutionId, u32),
        reason: Option<String>,
    ) -> Self {
        Self {
            kind,
            entity: entity.to_string(),
            integration: integration.map(str::to_string),
            execution: Some((automation.to_string(), execution.clone(), attempt)),
            reason,
            cause: format!("{execution}\n{attempt}"),
        }
    }

    /// The event as ingest takes it.
    pub fn input(&self) -> EventInput {
        let reason = self
            .reason
            .as_ref()
            .map(|r| r.chars().take(255).collect::<String>());
        let mut fields = serde_json::json!({
            "type": self.kind, "entity": self.entity, "author": "herald",
            "integration": self.integration, "reason": reason,
        });
        if let Some((automation, execution, attempt)) = &self.execution {
            fields["automation"] = automation.as_str().into();
            fields["execution_id"] = execution.as_str().into();
            fields["attempt"] = (*attempt).into();
        }
        serde_json::from_value(fields).expect("every field is one an operational event carries")
    }

    /// Its idempotency key. It holds line breaks, which no header value can: no key a client
    /// sends ever stands for it.
    pub fn idempotency_key(&self) -> String {
        format!("herald\n{}\n{}", self.kind.as_str(), self.cause)
    }
}

/// Where operational events go: ingest, supplied by the embedder (delivery sits below it).
/// Raising never waits for the event to be stored, and a failure to store it is logged.
pub trait OperationalSink: Send + Sync {
    /// Raises `event` in entity `entity_id`.
    fn raise(&self, entity_id: i64, event: Operational);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operational_event_is_a_valid_event_of_its_type() {
        let id = ExecutionId::generate();
        let long = "x".repeat(400);
        for kind in EventType::OPERATIONAL {
            let event = match kind {
                EventType::IntegrationDisabled | EventType::IntegrationEnabled => {
                    Operational::integration(kind, "team", "ci", Some(long.clone()), 1)
                }
                _ => Operational::execution(kind, "team", Some("ci"), ("deploy", &id, 3), None),
            };
            let input = event.input();
            input.validate().unwrap();
            assert_eq!(input.event_type, kind);
            assert!(input.reason.is_none_or(|r| r.chars().count() == 255));
            assert!(event.idempotency_key().contains('\n'));
        }
    }
}
