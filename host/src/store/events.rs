//! Events and the executions they trigger: written together, in one transaction, before the
//! client hears `202`. Also the execution history reads.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{StoreError, json_column};
use crate::ids::{AutomationId, EventId, ExecutionId};
use crate::model::event::Event;
use crate::model::execution::ExecutionStatus;

/// An execution to create with its event.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// Its id.
    pub id: ExecutionId,
    /// The automation that fired.
    pub automation_id: AutomationId,
    /// A snapshot of the automation's definition (JSON).
    pub automation: String,
    /// Created already leased to the dispatcher (running, first attempt), which the caller hands
    /// it to once the ingest committed. Only for `pending` executions.
    pub leased: bool,
    /// The rendered payload (secrets as placeholders), if the automation has a template.
    pub payload: Option<String>,
    /// `pending`; `skipped` when the rate limit refused it; `failed` when it cannot run at all.
    pub status: ExecutionStatus,
    /// Why it was skipped.
    pub status_reason: Option<String>,
    /// What fired it, for a metric automation (JSON of a `MetricContext`).
    pub trigger: Option<String>,
    /// The automation's rate limit, for the store to enforce on a shared database (where the
    /// window counts every host's executions); `None` when the caller applied it already.
    pub rate_limit: Option<crate::model::automation::RateLimit>,
}

/// One event to store, with its executions.
#[derive(Debug, Clone)]
pub struct EventToStore {
    /// The event (shared with the executions handed to delivery).
    pub event: Arc<Event>,
    /// The client's idempotency key for it, if any.
    pub idempotency_key: Option<String>,
    /// The executions it triggered.
    pub executions: Vec<NewExecution>,
    /// What it says of its run's liveness, to record with it (none for launched runs, whose
    /// liveness is their queue item's lease).
    pub run: Option<super::RunTouch>,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// The event's id (the first one's, for a repeated idempotency key).
    pub event_id: EventId,
    /// How many automations it triggered.
    pub matched: usize,
    /// True when the idempotency key had been seen: nothing new was created.
    pub duplicate: bool,
    /// Executions the store skipped for their rate limit (on a shared database).
    #[serde(skip)]
    pub rate_limited: Vec<ExecutionId>,
    /// The event's place in the store's ingest order (0 for a repeated idempotency key).
    #[serde(skip)]
    pub seq: i64,
}

/// Run locks held on a shared database; [`RunLock::release`] gives them back. Dropped without a
/// release, the connection holding them is closed, which releases them too.
#[derive(Default)]
pub struct RunLock {
    pub(crate) held: Option<deadpool_postgres::Object>,
    /// A place among the connections that may hold run locks (see `Postgres::run_lockers`).
    pub(crate) _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl RunLock {
    /// Gives the locks back.
    pub async fn release(mut self) {
        if let Some(client) = self.held.take()
            && client
                .batch_execute("SELECT pg_advisory_unlock_all()")
                .await
                .is_err()
        {
            // Never back to the pool with locks that may still be held.
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(client) = self.held.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// An execution as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionRecord {
    /// Its id (also the `webhook-id` receivers deduplicate on).
    pub id: ExecutionId,
    /// The event that triggered it.
    pub event_id: EventId,
    /// The automation (it may since have changed or gone; `automation` is the snapshot).
    pub automation_id: AutomationId,
    /// `pending`, `running`, `retrying`, `succeeded`, `failed` or `skipped`.
    pub status: ExecutionStatus,
    /// Why it has that status (the failure, or why it was skipped).
    pub status_reason: Option<String>,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// The automation as it was when the event arrived.
    pub automation: Value,
    /// The rendered payload (the API shows its secret placeholders as `${NAME}`).
    pub payload: Option<Value>,
    /// Every attempt, oldest first (only in single-execution reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<Value>,
    /// What fired it, for a metric automation.
    pub metric: Option<crate::model::event::MetricContext>,
}

pub(crate) const EXECUTION_COLUMNS: &str = "id, event_id, automation_id, status, status_reason, attempts, created_at, updated_at, automation, payload, trigger";

/// A row, before its JSON columns are parsed: (record, automation, payload, trigger).
pub(crate) type RawExecution = (ExecutionRecord, String, Option<String>, Option<String>);

pub(crate) fn finish_execution(parts: RawExecution) -> Result<ExecutionRecord, StoreError> {
    let (mut record, automation, payload, trigger) = parts;
    record.automation = json_column(&automation)?;
    record.payload = payload.map(|p| json_column::<Value>(&p)).transpose()?;
    record.metric = trigger.map(|t| json_column(&t)).transpose()?;
    Ok(record)
}

/// Which events a list read returns.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events of this type (its name, e.g. `LINK_ARTIFACT`).
    pub event_type: Option<String>,
    /// Only events received at or after this instant (RFC 3339 as stored: UTC, milliseconds).
    pub since: Option<String>,
    /// Only events received before this instant (the same form).
    pub until: Option<String>,
    /// Only events with an id below this one (the last event of the previous page).
    pub below_id: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// An event in a list: as posted, with `received_at`, and how many automations it triggered.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    /// Its id.
    pub id: EventId,
    /// The event as posted, with `received_at`.
    pub event: Value,
    /// Executions it created.
    pub matched: i64,
}

super::interface! {
    /// Events with their executions, and the execution history.
    trait EventStore {
        /// Stores events and their executions in one transaction. An event whose idempotency key was
        /// seen before is not stored again: its outcome names the first event.
        /// Executions marked `leased` are created running, on their first attempt, held by
        /// `lease = (owner, until_ms)`.
        async fn ingest(
            &self,
            entity_id: i64,
            events: Vec<EventToStore>,
            lease: Option<(String, i64)>,
        ) -> Result<Vec<IngestOutcome>, StoreError>;
        /// A run's stored metric samples after the one stored as `after` (0: all), oldest first
        /// (ingest order): (storage sequence, received at in ms, the sample).
        async fn run_samples(
            &self,
            entity_id: i64,
            project: &str,
            run_id: &str,
            after: i64,
        ) -> Result<Vec<(i64, i64, Event)>, StoreError>;
        /// Takes the locks of the named runs (a shared database's hosts take turns with a run's
        /// windows: each catches up with the samples the others stored, evaluates, stores, then
        /// releases). Nothing to take on SQLite, where one host owns the file.
        async fn lock_runs(&self, runs: Vec<String>) -> Result<RunLock, StoreError>;
        /// Deletes up to `limit` events created before `before_id` (event ids are UUIDv7: an id
        /// floor is a time) whose executions have all finished, with those executions and their
        /// attempts; returns how many events went. Events with an execution still to deliver
        /// (pending, running, retrying, held) stay.
        async fn purge_history(&self, before_id: String, limit: usize) -> Result<usize, StoreError>;
        /// Gives the space purges freed back to the filesystem (SQLite: an incremental vacuum
        /// and a truncating checkpoint; PostgreSQL reuses it by itself).
        async fn reclaim_space(&self) -> Result<(), StoreError>;
        /// Deletes up to `limit` stored metric samples received before `before` (RFC 3339) that
        /// fired nothing; returns how many went.
        async fn purge_run_samples(
            &self,
            before: String,
            limit: usize,
        ) -> Result<usize, StoreError>;
        /// The events `query` selects, newest first.
        async fn events_page(
            &self,
            entity_id: i64,
            query: EventQuery,
        ) -> Result<Vec<EventSummary>, StoreError>;
        /// An event and the executions it triggered.
        async fn event(
            &self,
            entity_id: i64,
            id: &EventId,
        ) -> Result<(Value, Vec<ExecutionRecord>), StoreError>;
        /// The executions `query` selects, newest first.
        async fn executions(
            &self,
            entity_id: i64,
            query: ExecutionQuery,
        ) -> Result<Vec<ExecutionRecord>, StoreError>;
        /// One execution with its attempts.
        async fn execution(
            &self,
            entity_id: i64,
            id: &ExecutionId,
        ) -> Result<ExecutionRecord, StoreError>;
    }
}

/// Which executions a history read selects: an entity's, narrowed by automation, status and
/// creation time, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    /// Only this automation's.
    pub automation: Option<AutomationId>,
    /// Only executions in these statuses (empty: any).
    pub statuses: Vec<ExecutionStatus>,
    /// Created at or after this instant (RFC 3339 as stored: UTC, milliseconds).
    pub since: Option<String>,
    /// Created before this instant.
    pub until: Option<String>,
    /// At most this many.
    pub limit: usize,
    /// Where the previous page ended (the `created_at` and id of its last execution): only
    /// those after it in the order of the read.
    pub after: Option<(String, String)>,
}

impl ExecutionQuery {
    /// The `ORDER BY` clause. An automation's executions come newest first through
    /// `executions_by_automation`; an entity's through the primary key, since execution ids are
    /// UUIDv7 (their text sorts by creation time). No index serves the entity-wide read on
    /// purpose: one on `(entity_id, created_at)` cost every ingest about 5% more server CPU per
    /// delivery (BENCHMARKS.md) for a read people make by hand.
    pub(crate) fn order(&self) -> &'static str {
        if self.automation.is_some() {
            "created_at DESC, id DESC"
        } else {
            "id DESC"
        }
    }

    /// The `WHERE` clause after `entity_id = <first placeholder>`, with each backend's placeholder
    /// for the n-th parameter (1-based; 1 is the entity), and the text parameters in order; the
    /// limit is the parameter after them.
    pub(crate) fn conditions(&self, placeholder: fn(usize) -> String) -> (String, Vec<String>) {
        let mut sql = format!("entity_id = {}", placeholder(1));
        let mut values = Vec::new();
        let mut push = |sql: &mut String, column: &str, op: &str, value: String| {
            values.push(value);
            sql.push_str(&format!(
                " AND {column} {op} {}",
                placeholder(values.len() + 1)
            ));
        };
        if let Some(automation) = &self.automation {
            push(&mut sql, "automation_id", "=", automation.to_string());
        }
        // Time bounds are also id bounds (UUIDv7 ids start with their creation time), which
        // lets the primary key narrow an entity-wide read; `created_at` keeps them exact.
        if let Some(since) = &self.since {
            push(&mut sql, "id", ">=", id_bound(since));
            push(&mut sql, "created_at", ">=", since.clone());
        }
        if let Some(until) = &self.until {
            push(&mut sql, "id", "<", id_bound(until));
            push(&mut sql, "created_at", "<", until.clone());
        }
        if let Some((created_at, id)) = &self.after {
            if self.automation.is_some() {
                // Ordered by (created_at, id): past the last one in that order.
                values.extend([created_at.clone(), created_at.clone(), id.clone()]);
                let n = values.len() + 1;
                sql.push_str(&format!(
                    " AND (created_at < {} OR (created_at = {} AND id < {}))",
                    placeholder(n - 2),
                    placeholder(n - 1),
                    placeholder(n)
                ));
            } else {
                push(&mut sql, "id", "<", id.clone());
            }
        }
        if !self.statuses.is_empty() {
            let first = values.len() + 2;
            values.extend(self.statuses.iter().map(|s| s.as_str().to_string()));
            let list: Vec<String> = (first..first + self.statuses.len())
                .map(placeholder)
                .collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(", ")));
        }
        (sql, values)
    }
}

/// The smallest UUIDv7 text of an instant (RFC 3339): every id created at or after the instant
/// sorts at or after it.
fn id_bound(instant: &str) -> String {
    ExecutionId::floor_at(received_ms(instant))
}

/// A stored `received_at` in milliseconds since the Unix epoch (0 when it does not parse).
pub(crate) fn received_ms(text: &str) -> i64 {
    humantime::parse_rfc3339_weak(text)
        .map(crate::model::event::unix_ms)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A `RUN_STATE` event of `entity` with one pending execution (of a no-op automation) per id,
/// for the backends' tests.
#[cfg(test)]
pub(crate) fn test_event(entity: &str, key: Option<&str>, ids: Vec<ExecutionId>) -> EventToStore {
    let input = serde_json::from_value(serde_json::json!({
        "type": "RUN_STATE", "entity": entity, "project": "p", "run_id": "r", "state": "FAILED"
    }))
    .expect("a valid event");
    let automation = serde_json::json!({
        "id": "a", "entity": entity, "name": "a", "description": "", "enabled": true,
        "scope": {"type": "entity"}, "event": {"type": "RUN_STATE"},
        "action": {"type": "no-op"}, "rate_limit": null, "created_at": "", "updated_at": ""
    })
    .to_string();
    EventToStore {
        event: Arc::new(Event::new(input)),
        idempotency_key: key.map(str::to_string),
        executions: ids
            .into_iter()
            .map(|id| NewExecution {
                id,
                automation_id: "a".into(),
                automation: automation.clone(),
                leased: false,
                payload: None,
                status: ExecutionStatus::Pending,
                status_reason: None,
                trigger: None,
                rate_limit: None,
            })
            .collect(),
        run: None,
    }
}

#[cfg(test)]
mod tests {
    use super::id_bound;
    use crate::ids::ExecutionId;
    use crate::store::now_rfc3339;

    /// The time bounds of a history read hold the ids created in between, and only those.
    #[test]
    fn an_instants_id_bound_sorts_the_ids_created_around_it() {
        let before = now_rfc3339();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let id = ExecutionId::generate();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let after = now_rfc3339();
        assert!(id_bound(&before).as_str() <= id.as_str(), "{before} {id}");
        assert!(id.as_str() < id_bound(&after).as_str(), "{after} {id}");
        assert_eq!(id_bound(&before).len(), id.as_str().len());
    }
}
