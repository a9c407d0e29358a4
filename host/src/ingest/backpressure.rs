//! Back-pressure: while the delivery backlog (executions due and not yet delivered) is past
//! `[delivery] max_backlog`, event posts are refused with 503 and `Retry-After: 1`, so that at
//! the maximum rate the backlog, and with it the latency of a delivery, stays bounded instead of
//! growing without limit. One task reads the backlog from the store every [`EVERY`]; a post only
//! reads the flag it leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use crate::metrics::Metrics;
use crate::store::Store;

/// How often the backlog is read.
const EVERY: Duration = Duration::from_millis(100);

/// The backlog as last read, and whether it is past its bound.
#[derive(Debug, Default)]
pub struct Backlog {
    bound: i64,
    depth: AtomicI64,
    over: AtomicBool,
}

impl Backlog {
    /// A backlog bounded at `bound` executions (0: no bound).
    pub fn new(bound: u64) -> Self {
        Self {
            bound: i64::try_from(bound).unwrap_or(i64::MAX),
            ..Self::default()
        }
    }

    /// Why a post must wait, when the backlog is past its bound.
    pub fn refusal(&self) -> Option<String> {
        self.over.load(Ordering::Relaxed).then(|| {
            format!(
                "the delivery backlog ({} executions due) is past its bound of {}; retry in a second",
                self.depth.load(Ordering::Relaxed),
                self.bound
            )
        })
    }

    fn record(&self, depth: i64) {
        self.depth.store(depth, Ordering::Relaxed);
        self.over
            .store(self.bound > 0 && depth >= self.bound, Ordering::Relaxed);
    }
}

/// Runs forever (when the backlog is bounded): reads it every [`EVERY`]. A failed read leaves
/// the flag as it was (the store's own errors answer the posts then).
pub async fn watch_backlog(store: Store, backlog: Arc<Backlog>, metrics: Arc<Metrics>) {
    if backlog.bound <= 0 {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(depth) = store.backlog().await {
            backlog.record(depth);
            metrics.backlog(depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_its_bound_a_post_is_refused_saying_why() {
        let backlog = Backlog::new(10);
        backlog.record(9);
        assert_eq!(backlog.refusal(), None);
        backlog.record(10);
        let why = backlog.refusal().unwrap();
        assert!(
            why.contains("(10 executions due)") && why.contains("bound of 10"),
            "{why}"
        );
        let unbounded = Backlog::new(0);
        unbounded.record(1_000_000);
        assert_eq!(unbounded.refusal(), None);
    }
}
