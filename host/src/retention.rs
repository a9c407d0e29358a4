//! Retention: background tasks that delete what is older than the operator keeps. Events with
//! their executions and attempts (`[retention] events`, once every execution of theirs has
//! finished), attempt bodies (`[retention] attempt_bodies`: the record stays, each body by its
//! length), audit entries (`[retention] audit`), and run-metric samples that fired nothing (`[run_metrics] retention`): in bounded
//! batches, each a short transaction, so a purge never stalls ingest; then the freed space goes
//! back to the filesystem.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::automations::runs::RunMetricsConfig;
use crate::ids::ExecutionId;
use crate::store::{Store, unix_millis};

/// What the history keeps. Every field has a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Events older than this are deleted with their executions and those executions'
    /// attempts, once every execution of theirs has finished (pending, retrying and held ones
    /// keep their event). `0s` keeps everything.
    #[serde(with = "humantime_serde")]
    pub events: Duration,
    /// Attempts of executions older than this keep their requests, statuses and headers, but
    /// each body only by its length. `0s` keeps bodies as long as their events.
    #[serde(with = "humantime_serde")]
    pub attempt_bodies: Duration,
    /// Audit log entries older than this are deleted. `0s` keeps everything.
    #[serde(with = "humantime_serde")]
    pub audit: Duration,
    /// How often to purge.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(30 * 24 * 3600),
            attempt_bodies: Duration::from_secs(7 * 24 * 3600),
            audit: Duration::from_secs(365 * 24 * 3600),
            purge_interval: Duration::from_secs(600),
        }
    }
}

/// Rows deleted per transaction.
const HISTORY_BATCH: usize = 1_000;

/// The smallest UUIDv7 (event, execution, audit entry id) written `kept` ago: every row
/// written before then has a smaller id.
fn cutoff_id(kept: Duration) -> String {
    ExecutionId::floor_at(unix_millis() - kept.as_millis() as i64)
}

/// Deletes in batches of [`HISTORY_BATCH`] with `purge` (given the cutoff id and the batch
/// size) until a batch comes back short; answers how many went. A failure is logged as `what`
/// and ends the round (the next one retries).
async fn in_batches<F, Fut>(what: &str, before: String, purge: F) -> usize
where
    F: Fn(String, usize) -> Fut,
    Fut: Future<Output = Result<usize, crate::store::StoreError>>,
{
    let mut purged = 0;
    loop {
        match purge(before.clone(), HISTORY_BATCH).await {
            Ok(n) => {
                purged += n;
                if n < HISTORY_BATCH {
                    return purged;
                }
                // Let the writes waiting behind this batch through before the next.
                tokio::task::yield_now().await;
            }
            Err(error) => {
                tracing::warn!(%error, "purging {what} failed; retrying later");
                return purged;
            }
        }
    }
}

/// Runs forever (unless everything is kept forever): every `purge_interval`, deletes the events
/// older than `events` whose executions have all finished, with them, drops the bodies of the
/// attempts of executions older than `attempt_bodies`, and deletes the audit entries older than
/// `audit`, then gives the space back.
pub async fn purge_history(store: Store, config: RetentionConfig) {
    if config.events.is_zero() && config.audit.is_zero() && config.attempt_bodies.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(config.purge_interval.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let mut events = 0;
        if !config.events.is_zero() {
            events = in_batches("old events", cutoff_id(config.events), |before, limit| {
                store.purge_history(before, limit)
            })
            .await;
        }
        let mut bodies = 0;
        if !config.attempt_bodies.is_zero() {
            let before = cutoff_id(config.attempt_bodies);
            bodies = in_batches("old attempt bodies", before, |before, limit| {
                store.drop_attempt_bodies(before, limit)
            })
            .await;
        }
        let mut audit = 0;
        if !config.audit.is_zero() {
            audit = in_batches(
                "old audit entries",
                cutoff_id(config.audit),
                |before, limit| store.purge_audit(before, limit),
            )
            .await;
        }
        if events + bodies + audit > 0 {
            if let Err(error) = store.reclaim_space().await {
                tracing::warn!(%error, "giving purged space back failed; it is reused instead");
            }
            tracing::info!(
                events,
                executions_without_bodies = bodies,
                audit,
                "purged old events (with their executions and attempts), attempt bodies and audit entries"
            );
        }
    }
}

/// Samples deleted per transaction, so that a large purge never holds the writer for long.
const BATCH: usize = 5_000;

/// Runs forever: every `purge_interval`, deletes the samples older than `retention`.
pub async fn purge_run_samples(store: Store, config: RunMetricsConfig) {
    let mut tick = tokio::time::interval(config.purge_interval.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let cutoff = SystemTime::now()
            .checked_sub(config.retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let before = humantime::format_rfc3339_millis(cutoff).to_string();
        let mut purged = 0;
        loop {
            match store.purge_run_samples(before.clone(), BATCH).await {
                Ok(n) => {
                    purged += n;
                    if n < BATCH {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "purging old run-metric samples failed; retrying later");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(purged, before = %before, "purged old run-metric samples");
        }
    }
}
