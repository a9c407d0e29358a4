//! SQLite: delivery's side of executions: claims with leases, attempts, outcomes, releases, retries.

use crate::ids::ExecutionId;
use crate::model::execution::ExecutionStatus;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

use super::Sqlite;
use crate::store::delivery::*;
use crate::store::{StoreError, json_column, now_rfc3339, unix_millis};

/// Claims due executions: ?1 owner, ?2 lease end, ?3 now (RFC 3339), ?4 now (Unix ms), ?5 limit.
///
/// Each branch reads at most `limit` rows in index order, so a claim costs the same behind a
/// backlog of millions as behind none. (One `WHERE .. OR .. ORDER BY` sorted every due row in a
/// temporary b-tree: 2 ms per claim behind 20,000 pending executions.)
const CLAIM_DUE: &str =
    "UPDATE executions SET status = 'running', lease_owner = ?1, lease_until = ?2,
    attempts = attempts + 1, updated_at = ?3
    WHERE id IN (
        SELECT id FROM (
            SELECT id, next_attempt_at FROM (
                SELECT id, next_attempt_at FROM executions
                WHERE status = 'pending' AND next_attempt_at <= ?4
                ORDER BY next_attempt_at LIMIT ?5)
            UNION ALL
            SELECT id, next_attempt_at FROM (
                SELECT id, next_attempt_at FROM executions
                WHERE status = 'retrying' AND next_attempt_at <= ?4
                ORDER BY next_attempt_at LIMIT ?5)
            UNION ALL
            SELECT id, next_attempt_at FROM (
                SELECT id, next_attempt_at FROM executions
                WHERE status = 'running' AND lease_until < ?4 LIMIT ?5))
        ORDER BY next_attempt_at LIMIT ?5)
    RETURNING id, entity_id, attempts, automation, payload, event_id, next_attempt_at, trigger";

/// Restores an integration's health after a success: ?1 entity id, ?2 name.
const RESTORE_HEALTH: &str = "UPDATE integrations SET consecutive_failures = 0, failing_since_ms = NULL
    WHERE entity_id = ?1 AND name = ?2 AND (consecutive_failures > 0 OR failing_since_ms IS NOT NULL)";

impl DeliveryStore for Sqlite {
    async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let owner = owner.to_string();
        let rows = self
            .write(move |tx| {
                let now = unix_millis();
                let mut claim = tx.prepare_cached(CLAIM_DUE)?;
                let mut rows = claim
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
                                r.get::<_, i64>(6)?,
                                r.get::<_, Option<String>>(7)?,
                            ))
                        },
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                // RETURNING follows the table's order, not the subquery's.
                rows.sort_by_key(|row| row.6);
                let mut event = tx.prepare_cached("SELECT body FROM events WHERE id = ?1")?;
                let mut claimed = Vec::with_capacity(rows.len());
                for (id, entity_id, attempts, automation, payload, event_id, _, trigger) in rows {
                    let body: String = event.query_row([&event_id], |r| r.get(0))?;
                    claimed.push((id, entity_id, attempts, automation, payload, body, trigger));
                }
                Ok(claimed)
            })
            .await?;
        // Parsed here, not in the writer: the writer is serial, the callers are not.
        let mut claimed = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for (id, entity_id, attempts, automation, payload, body, trigger) in rows {
            match (json_column(&automation), json_column(&body)) {
                (Ok(automation), Ok(event)) => claimed.push(Claimed {
                    id: ExecutionId::from(id),
                    entity_id,
                    attempt: attempts as u32,
                    automation: Arc::new(automation),
                    event: Arc::new(event),
                    payload,
                    // A context that does not parse leaves the metric variables empty rather
                    // than failing an execution that can still be delivered.
                    metric: trigger.and_then(|t| serde_json::from_str(&t).ok()),
                }),
                (Err(error), _) | (_, Err(error)) => unreadable.push((id, error.to_string())),
            }
        }
        if !unreadable.is_empty() {
            // Retrying would read the same bytes: such an execution fails, and says why, rather
            // than coming back each time its lease ends.
            self.write(move |tx| {
                let mut fail = tx.prepare_cached(
                    "UPDATE executions SET status = 'failed', status_reason = ?1,
                     lease_owner = NULL, lease_until = NULL, updated_at = ?2 WHERE id = ?3",
                )?;
                for (id, error) in unreadable {
                    tracing::error!(execution = %id, %error, "an execution's stored record is unreadable");
                    fail.execute(params![format!("unreadable record: {error}"), now_rfc3339(), id])?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(claimed)
    }

    async fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            // The earliest of what is due and of the leases that will lapse, as on PostgreSQL:
            // `claim_due` takes a lapsed lease's execution too (an attempt that outlived it).
            Ok(c.query_row(
                "SELECT MIN(at) FROM (
                     SELECT MIN(next_attempt_at) AS at FROM executions WHERE status IN ('pending', 'retrying')
                     UNION ALL
                     SELECT MIN(lease_until) + 1 FROM executions WHERE status = 'running')",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await
    }

    async fn finish_attempt(
        &self,
        id: &ExecutionId,
        owner: &str,
        attempt: FinishedAttempt,
        settlement: Settlement,
    ) -> Result<bool, StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.write(move |tx| {
            let now = now_rfc3339();
            tx.prepare_cached("INSERT OR REPLACE INTO attempts (execution_id, number, started_at, duration_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![id, attempt.number, now, attempt.duration_ms, attempt.record])?;
            let succeeded = matches!(settlement, Settlement::Succeeded(_));
            let (status, reason, next) = settlement.into_parts();
            let updated = tx.prepare_cached("UPDATE executions SET status = ?1, status_reason = ?2,
                 next_attempt_at = COALESCE(?3, next_attempt_at), lease_owner = NULL, lease_until = NULL,
                 updated_at = ?4 WHERE id = ?5 AND lease_owner = ?6")?.execute(params![status, reason, next, now, id, owner])?;
            if let (true, true, Some((entity_id, name))) = (updated == 1, succeeded, attempt.integration) {
                // Writes nothing (the common case) unless the integration was failing.
                tx.prepare_cached(RESTORE_HEALTH)?.execute(params![entity_id, name])?;
            }
            Ok(updated == 1)
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
        let (id, owner, integration) = (id.to_string(), owner.to_string(), integration.to_string());
        self.write(move |tx| {
            // One writer: nothing enables the integration between this read and the update.
            let disabled = tx
                .prepare_cached(
                    "SELECT 1 FROM integrations WHERE entity_id = ?1 AND name = ?2 AND disabled_at IS NOT NULL",
                )?
                .exists(params![entity_id, integration])?;
            let (status, reason) = held_status(disabled, &integration);
            let held = tx
                .prepare_cached(
                    "UPDATE executions SET status = ?3, status_reason = ?4,
                     attempts = MAX(attempts - 1, 0),
                     lease_owner = NULL, lease_until = NULL, updated_at = ?5
                     WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(params![id, owner, status, reason, now_rfc3339()])?;
            Ok(held == 1)
        })
        .await
    }

    async fn release_claims(&self, owner: &str) -> Result<usize, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            Ok(tx.prepare_cached("UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?2, status_reason = 'released at shutdown', updated_at = ?3
                 WHERE status = 'running' AND lease_owner = ?1")?.execute(params![owner, unix_millis(), now_rfc3339()])?)
        })
        .await
    }

    async fn recover_abandoned(&self, _host: &str, owner: &str) -> Result<usize, StoreError> {
        let owner = owner.to_string();
        self.write(move |tx| {
            Ok(tx.prepare_cached("UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?2, status_reason = 'the host stopped during the attempt', updated_at = ?3
                 WHERE status = 'running' AND lease_owner IS NOT ?1")?.execute(params![owner, unix_millis(), now_rfc3339()])?)
        })
        .await
    }

    async fn release_lost_claims(
        &self,
        owner: &str,
        leased_until_at_most_ms: i64,
        in_flight: Vec<String>,
    ) -> Result<usize, StoreError> {
        let owner = owner.to_string();
        let in_flight = serde_json::to_string(&in_flight).expect("strings serialise");
        self.write(move |tx| {
            Ok(tx.prepare_cached("UPDATE executions SET status = 'retrying', lease_owner = NULL, lease_until = NULL,
                 next_attempt_at = ?3, status_reason = 'claim lost in a database failure', updated_at = ?4
                 WHERE status = 'running' AND lease_owner = ?1 AND lease_until <= ?2
                   AND id NOT IN (SELECT value FROM json_each(?5))")?
                .execute(params![owner, leased_until_at_most_ms, unix_millis(), now_rfc3339(), in_flight])?)
        })
        .await
    }

    async fn retry_execution(&self, entity_id: i64, id: &ExecutionId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let status: Option<ExecutionStatus> = tx
                .query_row(
                    "SELECT status FROM executions WHERE entity_id = ?1 AND id = ?2",
                    params![entity_id, id],
                    |r| r.get(0),
                )
                .optional()?;
            match status {
                None => Err(StoreError::NotFound(format!("execution {id}"))),
                Some(status) if status.is_final() => {
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

    async fn queue_depth(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM executions WHERE status IN ('pending', 'retrying', 'running')", [], |r| r.get(0))?)
        })
        .await
    }

    async fn backlog(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(c.query_row("SELECT (SELECT COUNT(*) FROM executions WHERE status = 'pending') + (SELECT COUNT(*) FROM executions WHERE status = 'running')", [], |r| r.get(0))?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {

    use rusqlite::params;

    use super::*;

    use crate::ids::ExecutionId;
    use crate::store::{Claimed, Durability, Store, now_rfc3339};

    /// Stores one event with one pending execution per id, then sets each row as given:
    /// (id, status, next_attempt_at, lease_until, automation text).
    async fn executions(store: &Store, rows: &[(&str, &str, i64, Option<i64>, &str)]) -> i64 {
        let (entity, _) = store
            .create_entity("claims", crate::auth::generate_key())
            .await
            .unwrap();
        let ids = rows.iter().map(|(id, ..)| ExecutionId::from(*id)).collect();
        let stored = crate::store::events::test_event("claims", None, ids);
        store.ingest(entity.id, vec![stored], None).await.unwrap();
        let rows: Vec<(String, String, i64, Option<i64>, String)> = rows
            .iter()
            .map(|(id, status, due, lease, text)| {
                (
                    id.to_string(),
                    status.to_string(),
                    *due,
                    *lease,
                    text.to_string(),
                )
            })
            .collect();
        store
            .sqlite()
            .write(move |tx| {
                for (id, status, due, lease, text) in rows {
                    let automation = if text.is_empty() { None } else { Some(text) };
                    tx.execute(
                        "UPDATE executions SET status = ?2, next_attempt_at = ?3, lease_until = ?4,
                         lease_owner = CASE WHEN ?4 IS NULL THEN NULL ELSE 'host_gone' END,
                         automation = COALESCE(?5, automation) WHERE id = ?1",
                        params![id, status, due, lease, automation],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        entity.id
    }

    fn ids(claimed: &[Claimed]) -> Vec<&str> {
        claimed.iter().map(|c| c.id.as_str()).collect()
    }

    #[tokio::test]
    async fn claims_what_is_due_oldest_first_and_fails_what_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db"), Durability::Process).unwrap();
        let now = unix_millis();
        let far = now + 3_600_000;
        executions(
            &store,
            &[
                ("unreadable", "pending", 50, None, "{not json"),
                ("pending", "pending", 100, None, ""),
                ("retrying", "retrying", 200, None, ""),
                ("lease-lapsed", "running", 300, Some(1), ""),
                ("not-yet", "pending", far, None, ""),
                ("retry-later", "retrying", far, None, ""),
                ("leased", "running", 10, Some(far), ""),
                ("done", "succeeded", 1, None, ""),
            ],
        )
        .await;

        // The two oldest due: one cannot be read, so only the other comes back.
        let first = store.claim_due("host_a", 60_000, 2).await.unwrap();
        assert_eq!(ids(&first), ["pending"]);
        assert_eq!(
            (first[0].attempt, first[0].automation.name.as_str()),
            (1, "a")
        );
        let second = store.claim_due("host_a", 60_000, 10).await.unwrap();
        assert_eq!(ids(&second), ["retrying", "lease-lapsed"]);
        assert!(
            store
                .claim_due("host_a", 60_000, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let statuses: Vec<(String, String, Option<String>)> = store
            .sqlite()
            .read(|c| {
                let mut query =
                    c.prepare("SELECT id, status, status_reason FROM executions ORDER BY id")?;
                let rows = query
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        let status = |id: &str| statuses.iter().find(|s| s.0 == id).unwrap().clone();
        let (_, unreadable, reason) = status("unreadable");
        assert_eq!(unreadable, "failed");
        assert!(reason.unwrap().starts_with("unreadable record: "));
        for (id, expected) in [
            ("pending", "running"),
            ("retrying", "running"),
            ("lease-lapsed", "running"),
            ("not-yet", "pending"),
            ("retry-later", "retrying"),
            ("leased", "running"),
            ("done", "succeeded"),
        ] {
            assert_eq!(status(id).1, expected, "{id}");
        }
    }

    #[tokio::test]
    async fn a_claim_reads_a_bounded_slice_of_a_large_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db"), Durability::Process).unwrap();
        let names: Vec<String> = (0..2_000).map(|i| format!("e{i:05}")).collect();
        let rows: Vec<(&str, &str, i64, Option<i64>, &str)> = names
            .iter()
            .enumerate()
            // Stored newest first, so that the claim's order is its own, not insertion order.
            .map(|(i, id)| (id.as_str(), "pending", 10_000 - i as i64, None, ""))
            .collect();
        executions(&store, &rows).await;
        // The work of one claim of 3, in SQLite's virtual machine steps: bounded by the claim,
        // not by the 2,000 due rows behind it (sorting them all took ~12 steps per row, 24,000 here).
        let (first, steps) = store
            .sqlite()
            .write(|tx| {
                let mut claim = tx.prepare(CLAIM_DUE)?;
                let now = unix_millis();
                let mut ids: Vec<(i64, String)> = claim
                    .query_map(
                        params!["host_a", now + 60_000, now_rfc3339(), now, 3],
                        |r| Ok((r.get(6)?, r.get(0)?)),
                    )?
                    .collect::<Result<_, _>>()?;
                ids.sort();
                let steps = claim.get_status(rusqlite::StatementStatus::VmStep);
                Ok((ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), steps))
            })
            .await
            .unwrap();
        assert_eq!(first, ["e01999", "e01998", "e01997"]);
        assert!(steps < 1_000, "a claim of 3 took {steps} steps");
        let claimed = store.claim_due("host_a", 60_000, 3).await.unwrap();
        assert_eq!(ids(&claimed), ["e01996", "e01995", "e01994"]);
    }
}
