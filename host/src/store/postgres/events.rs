//! PostgreSQL: events with their executions, and the execution history. Hosts ingesting the
//! same idempotency key at once agree on one event: the unique index decides, and the loser
//! reads the winner's.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use serde_json::Value;
use tokio_postgres::Row;

use super::{Postgres, count, execute, query};
use crate::ids::{AutomationId, EventId, ExecutionId};
use crate::model::automation::RateLimit;
use crate::model::event::Event;
use crate::model::execution::ExecutionStatus;
use crate::store::events::*;
use crate::store::{StoreError, json_column, now_rfc3339, unix_millis};

fn execution_from_row(row: &Row) -> Result<RawExecution, StoreError> {
    let status: &str = row.get(3);
    Ok((
        ExecutionRecord {
            id: ExecutionId::from(row.get::<_, String>(0)),
            event_id: EventId::from(row.get::<_, String>(1)),
            automation_id: AutomationId::from(row.get::<_, String>(2)),
            status: ExecutionStatus::parse(status).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown execution status {status:?}"))
            })?,
            status_reason: row.get(4),
            attempts: row.get(5),
            created_at: row.get(6),
            updated_at: row.get(7),
            automation: Value::Null,
            payload: None,
            attempt_log: Vec::new(),
            metric: None,
        },
        row.get(8),
        row.get(9),
        row.get(10),
    ))
}

/// Whether one more execution of `automation` fits its rate limit, counting every host's
/// executions in the window. The automation's advisory lock (held to the commit) makes hosts
/// that ingest for it at once take turns, so two cannot both take the last place.
async fn admit(
    tx: &Transaction<'_>,
    admitted: &mut HashMap<AutomationId, i64>,
    automation: &AutomationId,
    limit: RateLimit,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let in_batch = match admitted.get(automation) {
        Some(n) => *n,
        None => {
            execute(
                tx,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
                &[&automation.as_str()],
            )
            .await?;
            0
        }
    };
    let since = now_ms - i64::from(limit.per_seconds) * 1000;
    let since = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(since.max(0) as u64),
    )
    .to_string();
    let stored: i64 = super::query(
        tx,
        "SELECT COUNT(*) FROM executions WHERE automation_id = $1 AND created_at > $2 AND status <> 'skipped'",
        &[&automation.as_str(), &since],
    )
    .await?[0]
        .get(0);
    let fits = stored + in_batch < i64::from(limit.max);
    admitted.insert(automation.clone(), in_batch + i64::from(fits));
    Ok(fits)
}

impl EventStore for Postgres {
    async fn ingest(
        &self,
        entity_id: i64,
        events: Vec<EventToStore>,
        lease: Option<(String, i64)>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let executions: usize = events.iter().map(|e| e.executions.len()).sum();
        self.transaction(async |tx| {
            let insert_event = tx
                .prepare_cached(
                    "INSERT INTO events (id, entity_id, body, idempotency_key, matched, received_at, run_project, run_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (entity_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                     RETURNING seq",
                )
                .await?;
            let find = tx
                .prepare_cached(
                    "SELECT id, matched FROM events WHERE entity_id = $1 AND idempotency_key = $2",
                )
                .await?;
            let insert_execution = tx
                .prepare_cached(
                    "INSERT INTO executions (id, event_id, entity_id, automation_id, automation, payload, status,
                     status_reason, attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at, trigger)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)",
                )
                .await?;
            let now = now_rfc3339();
            let now_ms = unix_millis();
            let mut outcomes = Vec::with_capacity(events.len());
            // Executions of rate-limited automations admitted by this transaction so far.
            let mut admitted = HashMap::new();
            let mut pending_inserts = Vec::with_capacity(executions);
            for item in &events {
                let body = serde_json::to_string(&*item.event).expect("an event always serialises");
                let matched = item.executions.len() as i64;
                let input = &item.event.input;
                let (run_project, run_id) = match input.event_type {
                    crate::model::event::EventType::RunMetric => {
                        (Some(input.project_name()), input.run_id.as_deref())
                    }
                    _ => (None, None),
                };
                // A key seen before (even one another host is storing right now: the insert
                // waits for its transaction) inserts nothing; the first event is the answer.
                let inserted = tx
                    .query_opt(
                        &insert_event,
                        &[
                            &item.event.id.as_str(), &entity_id, &body, &item.idempotency_key, &matched,
                            &now, &run_project, &run_id,
                        ],
                    )
                    .await?;
                let Some(inserted) = inserted else {
                    let row = tx.query_one(&find, &[&entity_id, &item.idempotency_key]).await?;
                    outcomes.push(IngestOutcome {
                        event_id: EventId::from(row.get::<_, String>(0)),
                        matched: row.get::<_, i64>(1) as usize,
                        duplicate: true,
                        rate_limited: Vec::new(),
                        seq: 0,
                    });
                    continue;
                };
                let seq: i64 = inserted.get(0);
                if let Some(touch) = &item.run {
                    super::runs::touch(tx, entity_id, touch, now_ms).await?;
                }
                let mut rate_limited = Vec::new();
                for execution in &item.executions {
                    let leased = lease.as_ref().filter(|_| execution.leased);
                    let (mut status, attempts) = match leased {
                        Some(_) => (ExecutionStatus::Running, 1i64),
                        None => (execution.status, 0),
                    };
                    let mut reason = execution.status_reason.clone();
                    if let Some(limit) = execution.rate_limit.filter(|_| status == ExecutionStatus::Pending)
                        && !admit(tx, &mut admitted, &execution.automation_id, limit, now_ms).await?
                    {
                        status = ExecutionStatus::Skipped;
                        reason = Some(limit.refusal());
                        rate_limited.push(execution.id.clone());
                    }
                    pending_inserts.push((execution, &item.event.id, status, attempts, leased, reason));
                }
                outcomes.push(IngestOutcome {
                    event_id: item.event.id.clone(),
                    matched: matched as usize,
                    duplicate: false,
                    rate_limited,
                    seq,
                });
            }
            // Sent together: the driver pipelines them on the connection, one round trip.
            let inserts = pending_inserts.iter().map(|(execution, event_id, status, attempts, leased, reason)| {
                let owner = leased.map(|(owner, _)| owner.as_str());
                let until = leased.map(|(_, until)| *until);
                let statement = &insert_execution;
                let now = &now;
                async move {
                    tx.execute(
                        statement,
                        &[
                            &execution.id.as_str(), &event_id.as_str(), &entity_id, &execution.automation_id.as_str(),
                            &execution.automation, &execution.payload, &status.as_str(), reason,
                            attempts, &now_ms, &owner, &until, now, &execution.trigger,
                        ],
                    )
                    .await
                }
            });
            futures_util::future::try_join_all(inserts).await?;
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
        self.query(
            "SELECT seq, received_at, body FROM events
             WHERE entity_id = $1 AND run_project = $2 AND run_id = $3 AND run_id IS NOT NULL
               AND seq > $4
             ORDER BY seq",
            &[&entity_id, &project, &run_id, &after],
        )
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.get(0),
                received_ms(row.get(1)),
                json_column::<Event>(row.get(2))?,
            ))
        })
        .collect()
    }

    async fn lock_runs(&self, mut runs: Vec<String>) -> Result<RunLock, StoreError> {
        // The lock holder still needs another connection to store: never let lock holders take
        // the whole pool.
        let permit = self
            .run_lockers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let client = self.client().await?;
        // One order for every host, so that two batches naming the same runs cannot deadlock.
        runs.sort();
        runs.dedup();
        let statement = client
            .prepare_cached("SELECT pg_advisory_lock(hashtextextended($1, 11))")
            .await?;
        let lock = RunLock {
            held: Some(client),
            _permit: Some(permit),
        };
        for run in &runs {
            let client = lock.held.as_ref().expect("held");
            client.execute(&statement, &[run]).await?;
        }
        Ok(lock)
    }

    async fn purge_history(&self, before_id: String, limit: usize) -> Result<usize, StoreError> {
        self.transaction(async |tx| {
            let ids: Vec<String> = query(
                tx,
                "SELECT id FROM events e WHERE id < $1
                   AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.event_id = e.id
                                   AND x.status IN ('pending', 'running', 'retrying', 'held'))
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&before_id, &(limit as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if ids.is_empty() {
                return Ok(0);
            }
            execute(
                tx,
                "DELETE FROM attempts WHERE execution_id IN (
                     SELECT id FROM executions WHERE event_id = ANY($1))",
                &[&ids],
            )
            .await?;
            execute(
                tx,
                "DELETE FROM executions WHERE event_id = ANY($1)",
                &[&ids],
            )
            .await?;
            Ok(count(
                execute(tx, "DELETE FROM events WHERE id = ANY($1)", &[&ids]).await?,
            ))
        })
        .await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        // Autovacuum makes deleted rows' space reusable: the tables stop growing.
        Ok(())
    }

    async fn purge_run_samples(&self, before: String, limit: usize) -> Result<usize, StoreError> {
        let limit = limit as i64;
        self.transaction(async |tx| {
            Ok(count(
                tx.execute(
                    "DELETE FROM events WHERE seq IN (
                         SELECT seq FROM events
                         WHERE run_id IS NOT NULL AND received_at < $1
                           AND NOT EXISTS (SELECT 1 FROM executions WHERE event_id = events.id)
                         LIMIT $2)",
                    &[&before, &limit],
                )
                .await?,
            ))
        })
        .await
    }

    async fn events_page(
        &self,
        entity_id: i64,
        query: EventQuery,
    ) -> Result<Vec<EventSummary>, StoreError> {
        self.query(
            "SELECT id, body, received_at, matched FROM events WHERE entity_id = $1
             AND ($2::TEXT IS NULL OR (body::jsonb ->> 'type') = $2)
             AND ($3::TEXT IS NULL OR received_at >= $3) AND ($4::TEXT IS NULL OR received_at < $4)
             AND ($5::TEXT IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
            &[
                &entity_id,
                &query.event_type,
                &query.since,
                &query.until,
                &query.below_id,
                &(query.limit as i64),
            ],
        )
        .await?
        .iter()
        .map(|row| {
            let mut event: Value = json_column(row.get(1))?;
            event["received_at"] = Value::String(row.get(2));
            Ok(EventSummary {
                id: EventId::from(row.get::<_, String>(0)),
                event,
                matched: row.get(3),
            })
        })
        .collect()
    }

    async fn event(
        &self,
        entity_id: i64,
        id: &EventId,
    ) -> Result<(Value, Vec<ExecutionRecord>), StoreError> {
        let row = self
            .query_opt(
                "SELECT body, received_at FROM events WHERE entity_id = $1 AND id = $2",
                &[&entity_id, &id.as_str()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("event {id}")))?;
        let mut event: Value = json_column(row.get(0))?;
        event["received_at"] = Value::String(row.get(1));
        let executions = self
            .query(
                &format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE event_id = $1 ORDER BY created_at, id"
                ),
                &[&id.as_str()],
            )
            .await?
            .iter()
            .map(|row| finish_execution(execution_from_row(row)?))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((event, executions))
    }

    async fn executions(
        &self,
        entity_id: i64,
        query: ExecutionQuery,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let (conditions, values) = query.conditions(|n| format!("${n}"));
        let limit = query.limit as i64;
        let mut bound: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&entity_id];
        bound.extend(
            values
                .iter()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
        );
        bound.push(&limit);
        self.query(
            &format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE {conditions}
                 ORDER BY {} LIMIT ${}",
                query.order(),
                values.len() + 2
            ),
            &bound,
        )
        .await?
        .iter()
        .map(|row| finish_execution(execution_from_row(row)?))
        .collect()
    }

    async fn execution(
        &self,
        entity_id: i64,
        id: &ExecutionId,
    ) -> Result<ExecutionRecord, StoreError> {
        let row = self
            .query_opt(
                &format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE entity_id = $1 AND id = $2"
                ),
                &[&entity_id, &id.as_str()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))?;
        let mut record = finish_execution(execution_from_row(&row)?)?;
        record.attempt_log = self
            .query(
                "SELECT record FROM attempts WHERE execution_id = $1 ORDER BY number",
                &[&id.as_str()],
            )
            .await?
            .iter()
            .map(|row| json_column(row.get(0)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(record)
    }
}
