//! Group commit of attempt outcomes on PostgreSQL. Every delivery ends with two writes (its
//! attempt record, its execution's new status); one transaction each cost a commit and four round
//! trips per delivery. Outcomes that arrive together are written together instead: one
//! transaction, one multi-row statement per table, whatever the batch's size.

use tokio::sync::{mpsc, oneshot};

use super::Postgres;
use crate::store::StoreError;

/// The most outcomes one transaction carries.
const MAX_BATCH: usize = 256;

/// One attempt's outcome, to record.
pub(super) struct Outcome {
    pub id: String,
    pub owner: String,
    pub attempt: i64,
    pub record: String,
    pub duration_ms: f64,
    pub status: &'static str,
    pub reason: String,
    pub next_attempt_at: Option<i64>,
    pub started_at: String,
    /// A success's integration (entity id, name), whose health it restores.
    pub restores: Option<(i64, String)>,
    /// Whether `owner` still held the lease (the execution was settled).
    pub reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// Hands outcomes to the writing task.
#[derive(Clone)]
pub(super) struct Finisher {
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Finisher {
    /// Starts the task that writes outcomes for `store`.
    pub(super) fn start(store: Postgres) -> Self {
        let (outcomes, mut waiting) = mpsc::unbounded_channel::<Outcome>();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(outcome) => batch.push(outcome),
                        Err(_) => break,
                    }
                }
                write(&store, batch).await;
            }
        });
        Self { outcomes }
    }

    /// Records `outcome` with whatever else is waiting; answers once committed.
    pub(super) async fn finish(
        &self,
        outcome: impl FnOnce(oneshot::Sender<Result<bool, StoreError>>) -> Outcome,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.outcomes
            .send(outcome(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Writes a batch in one transaction and answers each outcome.
async fn write(store: &Postgres, batch: Vec<Outcome>) {
    let column = |f: fn(&Outcome) -> String| batch.iter().map(f).collect::<Vec<_>>();
    let ids = column(|o| o.id.clone());
    let owners = column(|o| o.owner.clone());
    let records = column(|o| o.record.clone());
    let reasons = column(|o| o.reason.clone());
    let statuses = column(|o| o.status.to_string());
    let started = column(|o| o.started_at.clone());
    let numbers: Vec<i64> = batch.iter().map(|o| o.attempt).collect();
    let durations: Vec<f64> = batch.iter().map(|o| o.duration_ms).collect();
    let next: Vec<Option<i64>> = batch.iter().map(|o| o.next_attempt_at).collect();
    let settled = store
        .transaction(async |tx| {
            super::execute(
                tx,
                "INSERT INTO attempts (execution_id, number, started_at, duration_ms, record)
                 SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::DOUBLE PRECISION[], $5::TEXT[])
                 ON CONFLICT (execution_id, number) DO UPDATE
                 SET started_at = EXCLUDED.started_at, duration_ms = EXCLUDED.duration_ms, record = EXCLUDED.record",
                &[&ids, &numbers, &started, &durations, &records],
            )
            .await?;
            let rows = super::query(
                tx,
                "UPDATE executions x SET status = u.status, status_reason = u.reason,
                 next_attempt_at = COALESCE(u.next, x.next_attempt_at), lease_owner = NULL,
                 lease_until = NULL, updated_at = u.now
                 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[])
                      AS u(id, owner, status, reason, next, now)
                 WHERE x.id = u.id AND x.lease_owner = u.owner
                 RETURNING x.id",
                &[&ids, &owners, &statuses, &reasons, &next, &started],
            )
            .await?;
            let settled = rows
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<std::collections::HashSet<_>>();
            let (entities, names): (Vec<i64>, Vec<String>) = batch
                .iter()
                .filter(|o| settled.contains(&o.id))
                .filter_map(|o| o.restores.clone())
                .unzip();
            if !entities.is_empty() {
                // Writes nothing (the common case) unless an integration was failing; locks
                // those it writes in one order, so that two hosts' batches cannot deadlock.
                super::execute(
                    tx,
                    "UPDATE integrations SET consecutive_failures = 0, failing_since_ms = NULL
                     WHERE id IN (
                         SELECT i.id FROM integrations i
                         JOIN UNNEST($1::BIGINT[], $2::TEXT[]) AS u(entity_id, name)
                           ON i.entity_id = u.entity_id AND i.name = u.name
                         WHERE i.consecutive_failures > 0 OR i.failing_since_ms IS NOT NULL
                         ORDER BY i.id FOR UPDATE OF i)",
                    &[&entities, &names],
                )
                .await?;
            }
            Ok(settled)
        })
        .await;
    for outcome in batch {
        let answer = match &settled {
            Ok(settled) => Ok(settled.contains(&outcome.id)),
            Err(error) => Err(copy(error)),
        };
        let _ = outcome.reply.send(answer);
    }
}

/// The same failure for every outcome of a batch (the store's errors are not `Clone`).
fn copy(error: &StoreError) -> StoreError {
    if error.is_unavailable() {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::CommitFailed(error.to_string())
    }
}
