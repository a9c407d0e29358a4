//! The audit log: one row per change to an entity's configuration, written after the change and
//! read newest first, filtered and paged by id (ids are UUIDv7s: their order is time order).

use super::StoreError;
use crate::ids::AuditId;
use crate::model::audit::{AuditAction, TargetKind};

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Its id (a UUIDv7: entries sort by when they were written).
    pub id: AuditId,
    /// When (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The id of the key that made the change (`herald` for Herald itself).
    pub actor: String,
    /// That key's role (`admin`, `member`, `agent`; `system` for Herald itself).
    pub actor_role: String,
    /// What the change did.
    pub action: AuditAction,
    /// The id or name of what it changed.
    pub target: String,
    /// The changed thing's non-secret fields before (JSON), if it existed.
    pub before: Option<String>,
    /// Its non-secret fields after (JSON), if it still exists.
    pub after: Option<String>,
}

impl AuditRecord {
    /// An entry for a change Herald made by itself (an integration disabled for its failures):
    /// actor `herald`, role `system`.
    pub fn by_herald(action: AuditAction, target: &str, after: serde_json::Value) -> Self {
        Self {
            id: AuditId::generate(),
            at: super::now_rfc3339(),
            actor: "herald".into(),
            actor_role: "system".into(),
            action,
            target: target.into(),
            before: None,
            after: Some(after.to_string()),
        }
    }
}

/// Which entries a read returns.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only changes to this kind of thing.
    pub target_kind: Option<TargetKind>,
    /// Only changes to the thing of this id or name.
    pub target: Option<String>,
    /// Only changes by this key.
    pub actor: Option<String>,
    /// Only entries written at or after this instant (RFC 3339 as stored: UTC, milliseconds).
    pub since: Option<String>,
    /// Only entries written before this instant (the same form).
    pub until: Option<String>,
    /// Only entries with an id below this one (the last entry of the previous page).
    pub below_id: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

pub(crate) const COLUMNS: &str = "id, at, actor, actor_role, action, target, before, after";

/// The action of a stored name, or the row is corrupt.
pub(crate) fn action_of(name: &str) -> Result<AuditAction, StoreError> {
    AuditAction::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown audit action {name:?}")))
}

impl AuditQuery {
    /// The conditions after `entity_id = <first placeholder>`, each backend's placeholders made
    /// by `mark(n)`, and the values they take in order (the limit is the parameter after them).
    pub(crate) fn conditions(&self, mark: impl Fn(usize) -> String) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        let mut add = |condition: &str, value: String| {
            values.push(value);
            sql.push_str(&format!(" AND {condition} {}", mark(values.len() + 1)));
        };
        if let Some(action) = self.action {
            add("action =", action.as_str().to_string());
        }
        if let Some(kind) = self.target_kind {
            add("target_kind =", kind.as_str().to_string());
        }
        if let Some(target) = &self.target {
            add("target =", target.clone());
        }
        if let Some(actor) = &self.actor {
            add("actor =", actor.clone());
        }
        if let Some(since) = &self.since {
            add("at >=", since.clone());
        }
        if let Some(until) = &self.until {
            add("at <", until.clone());
        }
        if let Some(below) = &self.below_id {
            add("id <", below.clone());
        }
        (sql, values)
    }
}

super::interface! {
    /// The audit log: appended to after each change, read newest first.
    trait AuditStore {
        /// Appends an entry to the entity's log.
        async fn record_audit(&self, entity_id: i64, entry: AuditRecord) -> Result<(), StoreError>;
        /// The entity's entries the query chooses, newest first.
        async fn audit_log(&self, entity_id: i64, query: AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
        /// Deletes the entries (of every entity) with an id below `before_id`, at most `limit`;
        /// answers how many went.
        async fn purge_audit(&self, before_id: String, limit: usize) -> Result<usize, StoreError>;
    }
}
