//! The host's own watch over leases: every host, every [`SWEEP_INTERVAL`], puts back on its queue
//! each item whose agent stopped heartbeating (or fails it after `max_attempts` claims, reporting
//! its run `FAILED`), so that a lapsed item is noticed within one lease period even when no agent
//! is left to claim. On PostgreSQL the release skips rows another host is releasing.

use std::time::Duration;

use super::report::{LOST, report_run};
use crate::ingest::Ingest;
use crate::model::event::RunState;
use crate::store::Store;

/// How often lapsed leases are looked for (a lease is at least a second).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// Runs forever, releasing lapsed leases.
pub async fn release_lapsed_leases(store: Store, ingest: Ingest, max_attempts: u32) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let failed = match store.release_lapsed(max_attempts.max(1)).await {
            Ok(failed) => failed,
            Err(error) => {
                tracing::warn!(%error, "releasing lapsed launch leases failed; retrying");
                continue;
            }
        };
        for (entity, item) in failed {
            tracing::info!(item = %item.id, attempts = item.attempts, "a launch item ran out of attempts");
            if let Err(error) = report_run(
                &ingest,
                entity.id,
                &entity.name,
                &item,
                RunState::Failed,
                Some(LOST),
            )
            .await
            {
                tracing::warn!(item = %item.id, %error, "reporting a failed launch run");
            }
        }
    }
}
