//! Writing the audit log: who ([`Principal`]) did what to which thing, with that thing's
//! non-secret fields before and after. Handlers call [`AppState::audit`] once their change has
//! committed.
//!
//! The entry is its own write, after the change's: a change whose entry could not be written
//! (the database went away between the two) stands, and the failure is logged at `ERROR` and
//! counted in `herald_audit_failures_total`, so an operator sees that the log has a gap.

use serde::Serialize;
use serde_json::Value;

use super::AppState;
use super::principal::Principal;
use crate::ids::AuditId;
use crate::model::audit::AuditAction;
use crate::store::{AuditRecord, now_rfc3339};

/// One change to record.
#[derive(Debug)]
pub struct Change {
    action: AuditAction,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
}

impl Change {
    /// `action` on the thing with this id or name.
    pub fn new(action: AuditAction, target: impl Into<String>) -> Self {
        Self {
            action,
            target: target.into(),
            before: None,
            after: None,
        }
    }

    /// The thing as it was (its API body, which holds no secret values).
    pub fn before(mut self, body: &impl Serialize) -> Self {
        self.before = serde_json::to_value(body).ok();
        self
    }

    /// The thing as it is now (its API body, which holds no secret values).
    pub fn after(mut self, body: &impl Serialize) -> Self {
        self.after = serde_json::to_value(body).ok();
        self
    }
}

impl AppState {
    /// Records `change`, made by `principal`, in its entity's audit log. Never fails the
    /// request: see the module's docs.
    pub async fn audit(&self, principal: &Principal, change: Change) {
        let entry = AuditRecord {
            id: AuditId::generate(),
            at: now_rfc3339(),
            actor: principal.key_id.clone(),
            actor_role: principal.role.as_str().to_string(),
            action: change.action,
            target: change.target,
            before: change.before.map(|v| v.to_string()),
            after: change.after.map(|v| v.to_string()),
        };
        let (store, metrics) = (self.store.clone(), self.metrics.clone());
        let (entity_id, entity) = (principal.entity.id, principal.entity.name.clone());
        // Spawned, so that a client that hangs up after the change committed does not cancel
        // its entry; awaited, so that the entry is readable once the answer is sent.
        let write = tokio::spawn(async move {
            let (action, target, actor) = (entry.action, entry.target.clone(), entry.actor.clone());
            if let Err(error) = store.record_audit(entity_id, entry).await {
                metrics.audit_failed();
                tracing::error!(
                    %entity,
                    %actor,
                    action = action.as_str(),
                    %target,
                    "the audit log could not record a change that was made: {error}"
                );
            }
        });
        let _ = write.await;
    }
}
