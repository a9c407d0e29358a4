//! Retention of run-metric samples: a background task deletes stored samples older than the
//! configured retention (those that fired an automation stay, with their executions), so that a
//! long training run cannot fill the disk.

use std::time::{Duration, SystemTime};

use crate::automations::runs::RunMetricsConfig;
use crate::store::Store;

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
