//! PostgreSQL: delivery's side of executions. Several hosts claim from one table: `FOR UPDATE
//! SKIP LOCKED` lets each take rows no other host is taking, and a claim is a lease, so the rows
//! of a host that died come back to everyone once it lapses.

use std::sync::Arc;

use super::outcomes::Outcome;
use super::{Postgres, count, execute, query};
use crate::ids::ExecutionId;
use crate::model::execution::ExecutionStatus;
use crate::store::delivery::*;
use crate::store::{StoreError, json_column, now_rfc3339, unix_millis};

/// Claims due executions: $1 owner, $2 lease end, $3 now (RFC 3339), $4 now (Unix ms), $5 limit.
///
/// As on SQLite, each branch reads at most `limit` rows in index order (a claim costs the same
/// behind any backlog); rows another host is claiming are skipped, not waited for. (The branches
/// are CTEs: PostgreSQL refuses `FOR UPDATE` inside a `UNION`.)
const CLAIM_DUE: &str = "
    WITH pending AS (
        SELECT id, next_attempt_at FROM executions
        WHERE status = 'pending' AND next_attempt_at <= $4
        ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED
    ), retrying AS (
        SELECT id, next_attempt_at FROM executions
        WHERE status = 'retrying' AND next_attempt_at <= $4
        ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED
    ), lapsed AS (
        SELECT id, next_attempt_at FROM executions
        WHERE status = 'running' AND lease_until < $4
        LIMIT $5 FOR UPDATE SKIP LOCKED
    ), chosen AS (
        SELECT id FROM (
            SELECT * FROM pending UNION ALL SELECT * FROM retrying UNION ALL SELECT * FROM lapsed
        ) due ORDER BY next_attempt_at LIMIT $5
    )
    UPDATE executions x SET status = 'running', lease_owner = $1, lease_until = $2,
        attempts = x.attempts + 1, updated_at = $3
    FROM chosen, events e
    WHERE x.id = chosen.id AND e.id = x.event_id
    RETURNING x.id, x.entity_id, x.attempts, x.automation, x.payload, e.body, x.next_attempt_at, x.trigger";

impl DeliveryStore for Postgres {
    async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = unix_millis();
        let mut rows = self
            .transaction(async |tx| {
                Ok(super::query(
                    tx,
                    CLAIM_DUE,
                    &[
                        &owner,
                        &(now + lease_ms),
                        &now_rfc3339(),
                        &now,
                        &(limit as i64),
                    ],
                )
                .await?)
            })
            .await?;
        rows.sort_by_key(|row| row.get::<_, i64>(6));
        let mut claimed = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            let id: String = row.get(0);
            match (json_column(row.get(3)), json_column(row.get(5))) {
                (Ok(automation), Ok(event)) => claimed.push(Claimed {
                    id: ExecutionId::from(id),
                    entity_id: row.get(1),
                    attempt: row.get::<_, i64>(2) as u32,
                    automation: Arc::new(automation),
                    event: Arc::new(event),
                    payload: row.get(4),
                    metric: row
                        .get::<_, Option<&str>>(7)
                        .and_then(|t| serde_json::from_str(t).ok()),
                }),
                (Err(error), _) | (_, Err(error)) => unreadable.push((id, error.to_string())),
            }
        }
        if !unreadable.is_empty() {
            // Retrying would read the same bytes: such an execution fails, and says why.
            self.transaction(async |tx| {
                for (id, error) in &unreadable {
                    tracing::error!(execution = %id, %error, "an execution's stored record is unreadable");
                    execute(
                        tx,
                        "UPDATE executions SET status = 'failed', status_reason = $1,
                         lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3",
                        &[&format!("unreadable record: {error}"), &now_rfc3339(), id],
                    )
                    .await?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(claimed)
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        // The earliest of what is due and of the leases that will lapse: another host's claims
        // are this host's work once their lease ends.
        let row = self
            .query_opt(
                "SELECT LEAST(
                    (SELECT MIN(next_attempt_at) FROM executions WHERE status IN ('pending', 'retrying')),
                    (SELECT MIN(lease_until) + 1 FROM executions WHERE status = 'running'))",
                &[],
            )
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn finish_attempt(
        &self,
        id: &ExecutionId,
        owner: &str,
        attempt: FinishedAttempt,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let restores = match settlement {
            Settlement::Succeeded(_) => attempt.integration,
            _ => None,
        };
        let (status, reason, next_attempt_at) = settlement.into_parts();
        // Set by `connect`, before the store is handed out.
        let finisher = self.finisher.get().ok_or(StoreError::Closed)?;
        finisher
            .finish(|reply| Outcome {
                id: id.to_string(),
                owner: owner.to_string(),
                attempt: i64::from(attempt.number),
                record: attempt.record,
                duration_ms: attempt.duration_ms,
                status: status.as_str(),
                reason,
                next_attempt_at,
                started_at: now_rfc3339(),
                restores,
                reply,
            })
            .await
    }

    async fn hold_claim(
        &self,
        id: &ExecutionId,
        owner: &str,
        entity_id: i64,
        integration: &str,
    ) -> Result<bool, StoreError> {
        let id = id.as_str();
        self.transaction(async |tx| {
            // FOR SHARE: an enabling in progress finishes first (and this sees it enabled), or
            // waits for this to commit (and then releases what this held).
            let disabled = !query(
                tx,
                "SELECT 1 FROM integrations WHERE entity_id = $1 AND name = $2
                 AND disabled_at IS NOT NULL FOR SHARE",
                &[&entity_id, &integration],
            )
            .await?
            .is_empty();
            let (status, reason) = held_status(disabled, integration);
            let held = execute(
                tx,
                "UPDATE executions SET status = $3, status_reason = $4,
                     attempts = GREATEST(attempts - 1, 0),
                     lease_owner = NULL, lease_until = NULL, updated_at = $5
                 WHERE id = $1 AND lease_owner = $2",
                &[&id, &owner, &status, &reason, &now_rfc3339()],
            )
            .await?;
            Ok(held == 1)
        })
        .await
    }

    async fn release_claims(&self, owner: &str) -> Result<usize, StoreError> {
        self.transaction(async |tx| {
            Ok(count(
                execute(
                    tx,
                    "UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                     next_attempt_at = $2, status_reason = 'released at shutdown', updated_at = $3
                     WHERE status = 'running' AND lease_owner = $1",
                    &[&owner, &unix_millis(), &now_rfc3339()],
                )
                .await?,
            ))
        })
        .await
    }

    async fn recover_abandoned(&self, host: &str, owner: &str) -> Result<usize, StoreError> {
        // Other hosts share this database: their claims may be live, and come back only when
        // their lease lapses (the claim takes lapsed leases). This host's own earlier processes
        // are dead: their claims are due now.
        let pattern = format!(
            "{}.%",
            host.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.transaction(async |tx| {
            Ok(count(
                execute(
                    tx,
                    "UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                     next_attempt_at = $3, status_reason = 'the host stopped during the attempt', updated_at = $4
                     WHERE status = 'running' AND lease_owner LIKE $1 AND lease_owner <> $2",
                    &[&pattern, &owner, &unix_millis(), &now_rfc3339()],
                )
                .await?,
            ))
        })
        .await
    }

    async fn release_lost_claims(
        &self,
        owner: &str,
        leased_until_at_most_ms: i64,
        in_flight: Vec<String>,
    ) -> Result<usize, StoreError> {
        self.transaction(async |tx| {
            Ok(count(
                execute(
                    tx,
                    "UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                     next_attempt_at = $3, status_reason = 'claim lost in a database failure', updated_at = $4
                     WHERE status = 'running' AND lease_owner = $1 AND lease_until <= $2
                       AND NOT (id = ANY($5))",
                    &[&owner, &leased_until_at_most_ms, &unix_millis(), &now_rfc3339(), &in_flight],
                )
                .await?,
            ))
        })
        .await
    }

    async fn retry_execution(&self, entity_id: i64, id: &ExecutionId) -> Result<(), StoreError> {
        self.transaction(async |tx| {
            let row = tx
                .query_opt(
                    "SELECT status FROM executions WHERE entity_id = $1 AND id = $2 FOR UPDATE",
                    &[&entity_id, &id.as_str()],
                )
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("execution {id}")))?;
            let status: &str = row.get(0);
            match ExecutionStatus::parse(status) {
                Some(status) if status.is_final() => {
                    execute(
                        tx,
                        "UPDATE executions SET status = 'pending', status_reason = 'manual retry',
                         next_attempt_at = $1, updated_at = $2 WHERE id = $3",
                        &[&unix_millis(), &now_rfc3339(), &id.as_str()],
                    )
                    .await?;
                    Ok(())
                }
                _ => Err(StoreError::Conflict(format!(
                    "execution {id} is {status}; only finished executions can be retried"
                ))),
            }
        })
        .await
    }

    async fn queue_depth(&self) -> Result<i64, StoreError> {
        Ok(self
            .query_opt(
                "SELECT COUNT(*) FROM executions WHERE status IN ('pending', 'retrying', 'running')",
                &[],
            )
            .await?
            .map_or(0, |r| r.get(0)))
    }

    async fn backlog(&self) -> Result<i64, StoreError> {
        Ok(self
            .query_opt(
                "SELECT COUNT(*) FROM executions WHERE status IN ('pending', 'running')",
                &[],
            )
            .await?
            .map_or(0, |r| r.get(0)))
    }
}
