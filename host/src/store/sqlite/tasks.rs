//! SQLite: background tasks and their batches.

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::ids::TaskId;
use crate::model::task::{TaskKind, TaskStatus};
use crate::store::tasks::*;
use crate::store::{StoreError, now_rfc3339, unix_millis};

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TaskRecord, StoreError>> {
    let (kind, status, selection): (String, String, String) =
        (row.get(1)?, row.get(2)?, row.get(4)?);
    let record = || -> Result<TaskRecord, StoreError> {
        Ok(TaskRecord {
            id: TaskId::from(row.get::<_, String>(0)?),
            kind: TaskKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown task kind {kind:?}")))?,
            status: TaskStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown task status {status:?}")))?,
            request: row.get(3)?,
            selection: selection_of(&selection)?,
            cursor: row.get(5)?,
            scanned: row.get(6)?,
            requeued: row.get(7)?,
            created_by: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            finished_at: row.get(11)?,
        })
    };
    Ok(record())
}

fn read_task(
    c: &rusqlite::Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> Result<Option<TaskRecord>, StoreError> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE {condition}"))?
        .query_row(values, from_row)
        .optional()?
        .transpose()
}

impl TaskStore for Sqlite {
    async fn create_task(
        &self,
        entity_id: i64,
        task: NewTask,
    ) -> Result<(TaskRecord, bool), StoreError> {
        self.write(move |tx| {
            if let Some(key) = &task.idempotency_key
                && let Some(existing) = read_task(
                    tx,
                    "entity_id = ?1 AND idempotency_key = ?2",
                    params![entity_id, key],
                )?
            {
                return Ok((existing, false));
            }
            let now = now_rfc3339();
            let selection = serde_json::to_string(&task.selection).expect("a selection serialises");
            tx.execute(
                "INSERT INTO tasks (id, entity_id, kind, status, request, selection, cursor,
                 idempotency_key, created_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    task.id.as_str(),
                    entity_id,
                    task.kind.as_str(),
                    task.request,
                    selection,
                    task.selection.from,
                    task.idempotency_key,
                    task.created_by,
                    now
                ],
            )?;
            let created = read_task(tx, "id = ?1", [task.id.as_str()])?.expect("just inserted");
            Ok((created, true))
        })
        .await
    }

    async fn task(&self, entity_id: i64, id: &TaskId) -> Result<TaskRecord, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            read_task(c, "entity_id = ?1 AND id = ?2", params![entity_id, id])?
                .ok_or_else(|| StoreError::NotFound(format!("task {id}")))
        })
        .await
    }

    async fn list_tasks(
        &self,
        entity_id: i64,
        before: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let before = before.map(|id| id.to_string());
        self.read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE entity_id = ?1
                 AND (?3 IS NULL OR (created_at, id) < (SELECT created_at, id FROM tasks WHERE id = ?3))
                 ORDER BY created_at DESC, id DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![entity_id, limit, before], from_row)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    async fn claim_task(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<(i64, TaskRecord)>, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            let now = unix_millis();
            let claimed: Option<(String, i64)> = tx
                .query_row(
                    "UPDATE tasks SET lease_owner = ?1, lease_until = ?2
                     WHERE id = (SELECT id FROM tasks WHERE status = 'running'
                                 AND (lease_until IS NULL OR lease_until < ?3)
                                 ORDER BY created_at LIMIT 1)
                     RETURNING id, entity_id",
                    params![owner, now + lease_ms, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            match claimed {
                None => Ok(None),
                Some((id, entity_id)) => {
                    let task = read_task(tx, "id = ?1", [&id])?.expect("just claimed");
                    Ok(Some((entity_id, task)))
                }
            }
        })
        .await
    }

    async fn run_task_batch(
        &self,
        id: &TaskId,
        owner: &str,
        lease_ms: i64,
        scan: u32,
    ) -> Result<Option<TaskBatch>, StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.write(move |tx| {
            let held: Option<(i64, String, String)> = tx
                .query_row(
                    "SELECT entity_id, cursor, selection FROM tasks
                     WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
                    params![id, owner],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((entity_id, cursor, selection)) = held else {
                return Ok(None);
            };
            let selection = selection_of(&selection)?;
            // The slice of the window this batch looks at: at most `scan` ids, in order.
            let (scanned, last): (i64, Option<String>) = tx.query_row(
                "SELECT COUNT(*), MAX(id) FROM (SELECT id FROM executions
                 WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3)",
                params![cursor, selection.until, scan],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let requeued = match &last {
                None => 0,
                Some(last) => {
                    let last_status = "(SELECT json_extract(a.record, '$.requests[#-1].response.status')
                        FROM attempts a WHERE a.execution_id = executions.id ORDER BY a.number DESC LIMIT 1)";
                    let sql = format!(
                        "UPDATE executions SET status = 'pending', status_reason = ?6,
                         next_attempt_at = ?7, updated_at = ?8
                         WHERE id > ?1 AND id <= ?2 AND entity_id = ?3 AND status IN ({})
                           AND (?4 IS NULL OR json_extract(automation, '$.action.integration') = ?4)
                           AND (?5 IS NULL OR automation_id = ?5){}",
                        status_list(&selection),
                        code_class_condition(selection.code_class, last_status),
                    );
                    tx.execute(
                        &sql,
                        params![
                            cursor, last, entity_id, selection.integration, selection.automation,
                            format!("queued again by task {id}"), unix_millis(), now_rfc3339()
                        ],
                    )?
                }
            };
            let done = scanned < i64::from(scan);
            let now = now_rfc3339();
            tx.execute(
                "UPDATE tasks SET cursor = COALESCE(?2, cursor), scanned = scanned + ?3,
                 requeued = requeued + ?4, updated_at = ?5, lease_until = ?6,
                 status = CASE WHEN ?7 THEN 'succeeded' ELSE status END,
                 finished_at = CASE WHEN ?7 THEN ?5 ELSE finished_at END
                 WHERE id = ?1",
                params![id, last, scanned, requeued as i64, now, unix_millis() + lease_ms, done],
            )?;
            Ok(Some(TaskBatch { requeued, done }))
        })
        .await
    }
}
