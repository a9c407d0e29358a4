//! SQLite: events with their executions, and the execution history.

use crate::ids::{EventId, ExecutionId};
use crate::model::event::Event;
use crate::model::execution::ExecutionStatus;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::Sqlite;
use crate::store::events::*;
use crate::store::{StoreError, json_column, now_rfc3339, unix_millis};

fn execution_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawExecution> {
    Ok((
        ExecutionRecord {
            id: row.get(0)?,
            event_id: row.get(1)?,
            automation_id: row.get(2)?,
            status: row.get(3)?,
            status_reason: row.get(4)?,
            attempts: row.get(5)?,
            created_at: row.get(6)?,
            updated_at: row.get(7)?,
            automation: Value::Null,
            payload: None,
            attempt_log: Vec::new(),
            metric: None,
        },
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

impl EventStore for Sqlite {
    async fn ingest(
        &self,
        entity_id: i64,
        events: Vec<EventToStore>,
        lease: Option<(String, i64)>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        self.write(move |tx| {
            let mut find = tx.prepare_cached(
                "SELECT id, matched FROM events WHERE entity_id = ?1 AND idempotency_key = ?2",
            )?;
            let mut insert_event = tx.prepare_cached(
                "INSERT INTO events (id, entity_id, body, idempotency_key, matched, received_at, run_project, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut insert_execution = tx.prepare_cached(
                "INSERT INTO executions (id, event_id, entity_id, automation_id, automation, payload, status, status_reason,
                 attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at, trigger)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
            )?;
            let now = now_rfc3339();
            let now_ms = unix_millis();
            let mut outcomes = Vec::with_capacity(events.len());
            for item in events {
                if let Some(key) = &item.idempotency_key
                    && let Some((event_id, matched)) = find
                        .query_row(params![entity_id, key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                        .optional()?
                {
                    outcomes.push(IngestOutcome { event_id: EventId::from(event_id), matched: matched as usize, duplicate: true, rate_limited: Vec::new(), seq: 0 });
                    continue;
                }
                let body = serde_json::to_string(&*item.event).expect("an event always serialises");
                let matched = item.executions.len();
                // A metric sample names its run in columns of their own, for rebuilding windows.
                let input = &item.event.input;
                let (run_project, run_id) = match input.event_type {
                    crate::model::event::EventType::RunMetric => (Some(input.project_name()), input.run_id.as_deref()),
                    _ => (None, None),
                };
                insert_event.execute(params![
                    item.event.id, entity_id, body, item.idempotency_key, matched as i64, now, run_project, run_id
                ])?;
                let seq = tx.last_insert_rowid();
                if let Some(touch) = &item.run {
                    super::runs::touch(tx, entity_id, touch, now_ms)?;
                }
                for execution in &item.executions {
                    let leased = lease.as_ref().filter(|_| execution.leased);
                    let (status, attempts) = match leased {
                        Some(_) => (ExecutionStatus::Running, 1),
                        None => (execution.status, 0),
                    };
                    insert_execution.execute(params![
                        execution.id, item.event.id, entity_id, execution.automation_id, execution.automation,
                        execution.payload, status, execution.status_reason, attempts, now_ms,
                        leased.map(|(owner, _)| owner), leased.map(|(_, until)| until), now,
                        execution.trigger
                    ])?;
                }
                outcomes.push(IngestOutcome { event_id: item.event.id.clone(), matched, duplicate: false, rate_limited: Vec::new(), seq });
            }
            Ok(outcomes)
        })
        .await
    }

    async fn run_samples(
        &self,
        entity_id: i64,
        project: &str,
        run_id: &str,
        after: i64,
    ) -> Result<Vec<(i64, i64, Event)>, StoreError> {
        let (project, run_id) = (project.to_string(), run_id.to_string());
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT rowid, received_at, body FROM events
                 WHERE entity_id = ?1 AND run_project = ?2 AND run_id = ?3 AND run_id IS NOT NULL
                   AND rowid > ?4
                 ORDER BY rowid",
            )?;
            let rows = statement
                .query_map(params![entity_id, project, run_id, after], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(seq, at, body)| Ok((seq, received_ms(&at), json_column::<Event>(&body)?)))
                .collect()
        })
        .await
    }

    async fn lock_runs(&self, _runs: Vec<String>) -> Result<RunLock, StoreError> {
        Ok(RunLock::default())
    }

    async fn purge_history(&self, before_id: String, limit: usize) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let ids: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM events WHERE id < ?1
                       AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.event_id = events.id
                                       AND x.status IN ('pending', 'running', 'retrying', 'held'))
                     ORDER BY id LIMIT ?2",
                )?
                .query_map(params![before_id, limit as i64], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                return Ok(0);
            }
            let ids = serde_json::to_string(&ids).expect("strings serialise");
            tx.execute(
                "DELETE FROM attempts WHERE execution_id IN (
                     SELECT id FROM executions WHERE event_id IN (SELECT value FROM json_each(?1)))",
                [&ids],
            )?;
            tx.execute(
                "DELETE FROM executions WHERE event_id IN (SELECT value FROM json_each(?1))",
                [&ids],
            )?;
            Ok(tx.execute("DELETE FROM events WHERE id IN (SELECT value FROM json_each(?1))", [&ids])?)
        })
        .await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        // Pages freed by purges leave the file (a database created with incremental
        // auto-vacuum; an older one reuses them instead), then the WAL is cut back.
        self.write(|tx| {
            let mut vacuum = tx.prepare("PRAGMA incremental_vacuum")?;
            let mut steps = vacuum.query([])?;
            while steps.next()?.is_some() {}
            Ok(())
        })
        .await?;
        self.truncate_wal();
        Ok(())
    }

    async fn purge_run_samples(&self, before: String, limit: usize) -> Result<usize, StoreError> {
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM events WHERE rowid IN (
                     SELECT rowid FROM events
                     WHERE run_id IS NOT NULL AND received_at < ?1
                       AND NOT EXISTS (SELECT 1 FROM executions WHERE event_id = events.id)
                     LIMIT ?2)",
                params![before, limit as i64],
            )?)
        })
        .await
    }

    async fn events_page(
        &self,
        entity_id: i64,
        query: EventQuery,
    ) -> Result<Vec<EventSummary>, StoreError> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT id, body, received_at, matched FROM events WHERE entity_id = ?1
                 AND (?2 IS NULL OR json_extract(body, '$.type') = ?2)
                 AND (?3 IS NULL OR received_at >= ?3) AND (?4 IS NULL OR received_at < ?4)
                 AND (?5 IS NULL OR id < ?5) ORDER BY id DESC LIMIT ?6",
            )?;
            let values = params![
                entity_id,
                query.event_type,
                query.since,
                query.until,
                query.below_id,
                query.limit as i64
            ];
            let rows = statement.query_map(values, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                ))
            })?;
            rows.map(|row| {
                let (id, body, received_at, matched) = row?;
                let mut event: Value = json_column(&body)?;
                event["received_at"] = Value::String(received_at);
                Ok(EventSummary {
                    id: EventId::from(id),
                    event,
                    matched,
                })
            })
            .collect()
        })
        .await
    }

    async fn event(
        &self,
        entity_id: i64,
        id: &EventId,
    ) -> Result<(Value, Vec<ExecutionRecord>), StoreError> {
        let id = id.clone();
        self.read(move |c| {
            let body: Option<(String, String)> = c
                .query_row(
                    "SELECT body, received_at FROM events WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (body, received_at) = body.ok_or_else(|| StoreError::NotFound(format!("event {id}")))?;
            let mut event: Value = json_column(&body)?;
            event["received_at"] = Value::String(received_at);
            let mut statement = c.prepare(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE event_id = ?1 ORDER BY created_at, id"
            ))?;
            let executions = statement
                .query_map([&id], execution_from_row)?
                .map(|row| finish_execution(row?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((event, executions))
        })
        .await
    }

    async fn executions(
        &self,
        entity_id: i64,
        query: ExecutionQuery,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read(move |c| {
            let (conditions, values) = query.conditions(|n| format!("?{n}"));
            let mut statement = c.prepare(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE {conditions}
                 ORDER BY {} LIMIT ?{}",
                query.order(),
                values.len() + 2
            ))?;
            let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&entity_id];
            bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
            let limit = query.limit as i64;
            bound.push(&limit);
            statement
                .query_map(bound.as_slice(), execution_from_row)?
                .map(|row| finish_execution(row?))
                .collect()
        })
        .await
    }

    async fn execution(
        &self,
        entity_id: i64,
        id: &ExecutionId,
    ) -> Result<ExecutionRecord, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE entity_id = ?1 AND id = ?2"),
                    params![entity_id, id],
                    execution_from_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))?;
            let mut record = finish_execution(row)?;
            let mut statement = c.prepare("SELECT record FROM attempts WHERE execution_id = ?1 ORDER BY number")?;
            record.attempt_log = statement
                .query_map([&id], |r| r.get::<_, String>(0))?
                .map(|text| json_column(&text?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(record)
        })
        .await
    }
}
