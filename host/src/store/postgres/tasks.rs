//! PostgreSQL: background tasks and their batches. A task's lease lets one host run it at a
//! time, and another finish it when that host dies.

use tokio_postgres::Row;

use super::{Postgres, execute, query};
use crate::ids::TaskId;
use crate::model::task::{TaskKind, TaskStatus};
use crate::store::tasks::*;
use crate::store::{StoreError, now_rfc3339, unix_millis};

fn from_row(row: &Row) -> Result<TaskRecord, StoreError> {
    let (kind, status): (&str, &str) = (row.get(1), row.get(2));
    Ok(TaskRecord {
        id: TaskId::from(row.get::<_, String>(0)),
        kind: TaskKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task kind {kind:?}")))?,
        status: TaskStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task status {status:?}")))?,
        request: row.get(3),
        selection: selection_of(row.get(4))?,
        cursor: row.get(5),
        scanned: row.get(6),
        requeued: row.get(7),
        created_by: row.get(8),
        created_at: row.get(9),
        updated_at: row.get(10),
        finished_at: row.get(11),
    })
}

impl TaskStore for Postgres {
    async fn create_task(
        &self,
        entity_id: i64,
        task: NewTask,
    ) -> Result<(TaskRecord, bool), StoreError> {
        let selection = serde_json::to_string(&task.selection).expect("a selection serialises");
        let now = now_rfc3339();
        self.transaction(async |tx| {
            let inserted = query(
                tx,
                &format!(
                    "INSERT INTO tasks (id, entity_id, kind, status, request, selection, cursor,
                     idempotency_key, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (entity_id, idempotency_key) WHERE idempotency_key IS NOT NULL
                     DO NOTHING RETURNING {COLUMNS}"
                ),
                &[
                    &task.id.as_str(),
                    &entity_id,
                    &task.kind.as_str(),
                    &task.request,
                    &selection,
                    &task.selection.from,
                    &task.idempotency_key,
                    &task.created_by,
                    &now,
                ],
            )
            .await?;
            if let Some(row) = inserted.first() {
                return Ok((from_row(row)?, true));
            }
            let existing = query(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE entity_id = $1 AND idempotency_key = $2"
                ),
                &[&entity_id, &task.idempotency_key],
            )
            .await?;
            let row = existing.first().ok_or_else(|| {
                StoreError::Conflict("a task with this idempotency key is being created".into())
            })?;
            Ok((from_row(row)?, false))
        })
        .await
    }

    async fn task(&self, entity_id: i64, id: &TaskId) -> Result<TaskRecord, StoreError> {
        let row = self
            .query_opt(
                &format!("SELECT {COLUMNS} FROM tasks WHERE entity_id = $1 AND id = $2"),
                &[&entity_id, &id.as_str()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))?;
        from_row(&row)
    }

    async fn list_tasks(
        &self,
        entity_id: i64,
        before: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let before = before.map(|id| id.to_string());
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM tasks WHERE entity_id = $1
                 AND ($3::TEXT IS NULL OR (created_at, id COLLATE \"C\")
                      < (SELECT created_at, id COLLATE \"C\" FROM tasks WHERE id = $3))
                 ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2"
            ),
            &[&entity_id, &i64::from(limit), &before],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    async fn claim_task(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<(i64, TaskRecord)>, StoreError> {
        let now = unix_millis();
        let rows = self
            .transaction(async |tx| {
                Ok(query(
                    tx,
                    &format!(
                        "UPDATE tasks SET lease_owner = $1, lease_until = $2
                         WHERE id = (SELECT id FROM tasks WHERE status = 'running'
                                     AND (lease_until IS NULL OR lease_until < $3)
                                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING entity_id, {COLUMNS}"
                    ),
                    &[&owner, &(now + lease_ms), &now],
                )
                .await?)
            })
            .await?;
        match rows.first() {
            None => Ok(None),
            Some(row) => {
                let entity_id: i64 = row.get(0);
                // The record's columns follow the entity id.
                let task = self
                    .task(entity_id, &TaskId::from(row.get::<_, String>(1)))
                    .await?;
                Ok(Some((entity_id, task)))
            }
        }
    }

    async fn run_task_batch(
        &self,
        id: &TaskId,
        owner: &str,
        lease_ms: i64,
        scan: u32,
    ) -> Result<Option<TaskBatch>, StoreError> {
        let id = id.as_str();
        self.transaction(async |tx| {
            let held = query(
                tx,
                "SELECT entity_id, cursor, selection FROM tasks
                 WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE",
                &[&id, &owner],
            )
            .await?;
            let Some(row) = held.first() else {
                return Ok(None);
            };
            let (entity_id, cursor): (i64, String) = (row.get(0), row.get(1));
            let selection = selection_of(row.get(2))?;
            let slice = query(
                tx,
                "SELECT COUNT(*), MAX(id) FROM (SELECT id FROM executions
                 WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3) s",
                &[&cursor, &selection.until, &i64::from(scan)],
            )
            .await?;
            let (scanned, last): (i64, Option<String>) = (slice[0].get(0), slice[0].get(1));
            let requeued = match &last {
                None => 0,
                Some(last) => {
                    let last_status = "(SELECT (a.record::jsonb -> 'requests' -> -1 -> 'response' ->> 'status')::INT
                        FROM attempts a WHERE a.execution_id = x.id ORDER BY a.number DESC LIMIT 1)";
                    let sql = format!(
                        "UPDATE executions x SET status = 'pending', status_reason = $6,
                         next_attempt_at = $7, updated_at = $8
                         WHERE x.id > $1 AND x.id <= $2 AND x.entity_id = $3 AND x.status IN ({})
                           AND ($4::TEXT IS NULL OR (x.automation::jsonb -> 'action' ->> 'integration') = $4)
                           AND ($5::TEXT IS NULL OR x.automation_id = $5){}",
                        status_list(&selection),
                        code_class_condition(selection.code_class, last_status),
                    );
                    execute(
                        tx,
                        &sql,
                        &[
                            &cursor, last, &entity_id, &selection.integration, &selection.automation,
                            &format!("queued again by task {id}"), &unix_millis(), &now_rfc3339(),
                        ],
                    )
                    .await?
                }
            };
            let done = scanned < i64::from(scan);
            let now = now_rfc3339();
            execute(
                tx,
                "UPDATE tasks SET cursor = COALESCE($2, cursor), scanned = scanned + $3,
                 requeued = requeued + $4, updated_at = $5, lease_until = $6,
                 status = CASE WHEN $7 THEN 'succeeded' ELSE status END,
                 finished_at = CASE WHEN $7 THEN $5 ELSE finished_at END
                 WHERE id = $1",
                &[&id, &last, &scanned, &(requeued as i64), &now, &(unix_millis() + lease_ms), &done],
            )
            .await?;
            Ok(Some(TaskBatch { requeued: requeued as usize, done }))
        })
        .await
    }
}
