//! Delivery's side of executions: claiming due ones with a lease, recording attempts and
//! outcomes, releasing claims, and manual retries.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::events::unix_millis;
use super::{Store, StoreError, json_column, now_rfc3339};
use crate::automations::Automation;
use crate::events::Event;

/// An execution claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The execution id.
    pub id: String,
    /// The entity it belongs to.
    pub entity_id: i64,
    /// The attempt being made (1 for the first).
    pub attempt: u32,
    /// The automation snapshot.
    pub automation: Arc<Automation>,
    /// The event.
    pub event: Arc<Event>,
    /// The rendered payload (secrets as placeholders).
    pub payload: Option<String>,
}

/// How an attempt ended, for the execution.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Delivered.
    Succeeded(String),
    /// Will not be retried (invalid, rejected, out of attempts).
    Failed(String),
    /// Retried at this time (Unix ms).
    Retry {
        /// When the next attempt is due.
        at_ms: i64,
        /// Why this attempt failed.
        reason: String,
    },
}

impl Store {
    /// Claims up to `limit` executions that are due (or whose lease expired) for `owner` until
    /// `lease_until_ms`, counting an attempt for each.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            let now = unix_millis();
            let mut claim = tx.prepare_cached(
                "UPDATE executions SET status = 'running', lease_owner = ?1, lease_until = ?2,
                 attempts = attempts + 1, updated_at = ?3
                 WHERE id IN (
                    SELECT id FROM executions
                    WHERE (status IN ('pending', 'retrying') AND next_attempt_at <= ?4)
                       OR (status = 'running' AND lease_until < ?4)
                    ORDER BY next_attempt_at LIMIT ?5)
                 RETURNING id, entity_id, attempts, automation, payload, event_id",
            )?;
            let rows = claim
                .query_map(
                    params![owner, now + lease_ms, now_rfc3339(), now, limit as i64],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let mut event = tx.prepare_cached("SELECT body FROM events WHERE id = ?1")?;
            let mut claimed = Vec::with_capacity(rows.len());
            for (id, entity_id, attempts, automation, payload, event_id) in rows {
                let body: String = event.query_row([&event_id], |r| r.get(0))?;
                claimed.push(Claimed {
                    id,
                    entity_id,
                    attempt: attempts as u32,
                    automation: Arc::new(json_column(&automation)?),
                    event: Arc::new(json_column(&body)?),
                    payload,
                });
            }
            Ok(claimed)
        })
        .await
    }

    /// When the next pending or retrying execution is due (Unix ms), if any.
    pub async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(next_attempt_at) FROM executions WHERE status IN ('pending', 'retrying')",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await
    }

    /// Records an attempt and settles the execution, if `owner` still holds its lease. Returns
    /// false when the lease was lost (another worker took over): the attempt is still recorded.
    pub async fn finish_attempt(
        &self,
        id: &str,
        owner: &str,
        attempt: u32,
        record: String,
        duration_ms: f64,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.write(move |tx| {
            let now = now_rfc3339();
            tx.prepare_cached("INSERT OR REPLACE INTO attempts (execution_id, number, started_at, duration_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![id, attempt, now, duration_ms, record])?;
            let (status, reason, next) = match settlement {
                Settlement::Succeeded(summary) => ("succeeded", summary, None),
                Settlement::Failed(reason) => ("failed", reason, None),
                Settlement::Retry { at_ms, reason } => ("retrying", reason, Some(at_ms)),
            };
            let updated = tx.prepare_cached("UPDATE executions SET status = ?1, status_reason = ?2,
                 next_attempt_at = COALESCE(?3, next_attempt_at), lease_owner = NULL, lease_until = NULL,
                 updated_at = ?4 WHERE id = ?5 AND lease_owner = ?6")?.execute(params![status, reason, next, now, id, owner])?;
            Ok(updated == 1)
        })
        .await
    }

    /// Gives back every claim of `owner` (at shutdown): they are due again at once.
    pub async fn release_claims(&self, owner: &str) -> Result<usize, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            Ok(tx.prepare_cached("UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?2, status_reason = 'released at shutdown', updated_at = ?3
                 WHERE status = 'running' AND lease_owner = ?1")?.execute(params![owner, unix_millis(), now_rfc3339()])?)
        })
        .await
    }

    /// Claims held by other owners (a previous process that died): due again at once.
    pub async fn recover_abandoned(&self, owner: &str) -> Result<usize, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            Ok(tx.prepare_cached("UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?2, status_reason = 'the host stopped during the attempt', updated_at = ?3
                 WHERE status = 'running' AND lease_owner IS NOT ?1")?.execute(params![owner, unix_millis(), now_rfc3339()])?)
        })
        .await
    }

    /// Puts a finished execution back on the queue. Conflict when it is still in progress.
    pub async fn retry_execution(&self, entity_id: i64, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM executions WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| r.get(0),
                )
                .optional()?;
            match status.as_deref() {
                None => Err(StoreError::NotFound(format!("execution {id}"))),
                Some("succeeded" | "failed" | "skipped") => {
                    tx.prepare_cached(
                        "UPDATE executions SET status = 'pending', status_reason = 'manual retry',
                         next_attempt_at = ?1, updated_at = ?2 WHERE id = ?3",
                    )?
                    .execute(params![unix_millis(), now_rfc3339(), id])?;
                    Ok(())
                }
                Some(other) => Err(StoreError::Conflict(format!(
                    "execution {id} is {other}; only finished executions can be retried"
                ))),
            }
        })
        .await
    }

    /// Executions waiting to be delivered (pending or retrying), for the queue-depth metric.
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM executions WHERE status IN ('pending', 'retrying', 'running')", [], |r| r.get(0))?)
        })
        .await
    }
}
