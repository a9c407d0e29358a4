//! Retention: background tasks that delete what is older than the operator keeps. Events with
//! their executions and attempts (`[retention] events`, once every execution of theirs has
//! finished), and run-metric samples that fired nothing (`[run_metrics] retention`): in bounded
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
    /// How often to purge.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(30 * 24 * 3600),
            purge_interval: Duration::from_secs(600),
        }
    }
}

/// Events deleted per transaction.
const HISTORY_BATCH: usize = 1_000;

/// Runs forever (unless events are kept forever): every `purge_interval`, deletes the events
/// older than `events` whose executions have all finished, with them, then gives the space
/// back.
pub async fn purge_history(store: Store, config: RetentionConfig) {
    if config.events.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(config.purge_interval.max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let cutoff = unix_millis() - config.events.as_millis() as i64;
        // Event ids are UUIDv7: every event created before the cutoff has a smaller id.
        let before = ExecutionId::floor_at(cutoff);
        let mut purged = 0;
        loop {
            match store.purge_history(before.clone(), HISTORY_BATCH).await {
                Ok(n) => {
                    purged += n;
                    if n < HISTORY_BATCH {
                        break;
                    }
                    // Let the writes waiting behind this batch through before the next.
                    tokio::task::yield_now().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "purging old events failed; retrying later");
                    break;
                }
            }
        }
        if purged > 0 {
            if let Err(error) = store.reclaim_space().await {
                tracing::warn!(%error, "giving purged space back failed; it is reused instead");
            }
            tracing::info!(
                purged,
                "purged old events with their executions and attempts"
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
