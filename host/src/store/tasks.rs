//! Background tasks: recovers and bulk retries, stored with their selection and progress, claimed
//! with a lease (so that a task whose host died is finished by another), and run in bounded
//! batches, each one transaction that queues a slice of the window again and records how far it
//! got.

use super::StoreError;
use crate::ids::TaskId;
use crate::model::task::{CodeClass, Selection, TaskKind, TaskStatus};

/// A task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Its id.
    pub id: TaskId,
    /// What it does.
    pub kind: TaskKind,
    /// Where it stands.
    pub status: TaskStatus,
    /// The request that made it (JSON), shown back.
    pub request: String,
    /// Which executions it queues again.
    pub selection: Selection,
    /// The last execution id looked at.
    pub cursor: String,
    /// Executions looked at so far (of every entity: the window's ids).
    pub scanned: i64,
    /// Executions queued again so far.
    pub requeued: i64,
    /// Who asked for it (the key's id).
    pub created_by: String,
    /// When it was asked for.
    pub created_at: String,
    /// When it last progressed.
    pub updated_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Its id.
    pub id: TaskId,
    /// What it does.
    pub kind: TaskKind,
    /// The request that made it (JSON).
    pub request: String,
    /// Which executions it queues again.
    pub selection: Selection,
    /// The client's `Idempotency-Key`: the same key names the same task.
    pub idempotency_key: Option<String>,
    /// Who asks for it.
    pub created_by: String,
}

/// One batch's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskBatch {
    /// Executions queued again by this batch.
    pub requeued: usize,
    /// Whether the task is done.
    pub done: bool,
}

pub(crate) const COLUMNS: &str = "id, kind, status, request, selection, cursor, scanned, requeued, created_by, created_at, updated_at, finished_at";

/// The SQL condition a selection's code class adds on an execution's last attempt, given the
/// expression of that attempt's answer status.
pub(crate) fn code_class_condition(class: Option<CodeClass>, status: &str) -> String {
    match class {
        None => String::new(),
        Some(CodeClass::Client) => format!(" AND {status} BETWEEN 400 AND 499"),
        Some(CodeClass::Server) => format!(" AND {status} BETWEEN 500 AND 599"),
        Some(CodeClass::NoAnswer) => format!(" AND {status} IS NULL"),
    }
}

/// The SQL list of a selection's statuses, e.g. `'failed', 'succeeded'` (names of an enum, never
/// client text).
pub(crate) fn status_list(selection: &Selection) -> String {
    let names: Vec<String> = selection
        .statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    if names.is_empty() {
        "'failed'".to_string()
    } else {
        names.join(", ")
    }
}

/// A stored selection.
pub(crate) fn selection_of(text: &str) -> Result<Selection, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a task's selection: {e}")))
}

super::interface! {
    /// Background tasks: created once per idempotency key, claimed with a lease, run in batches.
    trait TaskStore {
        /// Creates a task, or returns the one the same idempotency key made (then `false`).
        async fn create_task(&self, entity_id: i64, task: NewTask) -> Result<(TaskRecord, bool), StoreError>;
        /// A task of the entity.
        async fn task(&self, entity_id: i64, id: &TaskId) -> Result<TaskRecord, StoreError>;
        /// The entity's tasks, newest first: at most `limit`, created before the task
        /// `before` (the last of the previous page) when given.
        async fn list_tasks(&self, entity_id: i64, before: Option<TaskId>, limit: u32) -> Result<Vec<TaskRecord>, StoreError>;
        /// Claims a running task no live lease holds, for `owner` until `lease_ms` from now.
        async fn claim_task(&self, owner: &str, lease_ms: i64) -> Result<Option<(i64, TaskRecord)>, StoreError>;
        /// Runs the next batch of a task `owner` holds: looks at up to `scan` more executions
        /// of its window, queues those it selects again, records the progress and renews the
        /// lease. `None` when the lease was lost.
        async fn run_task_batch(&self, id: &TaskId, owner: &str, lease_ms: i64, scan: u32) -> Result<Option<TaskBatch>, StoreError>;
    }
}
