//! Back-pressure: while the delivery backlog (executions due and not yet delivered) is past
//! `[delivery] max_backlog`, an event post waits for it to drop below its bound, up to
//! [`ADMIT_WAIT`], and is refused with 503 and `Retry-After: 1` if it has not; so that at the
//! maximum rate the backlog, and with it the latency of a delivery, stays bounded instead of
//! growing without limit, and a client posting as fast as it can is slowed to the delivery rate
//! rather than turned away for a whole second. One task reads the backlog from the store every
//! [`EVERY`]; a post only reads (or waits on) the flag it leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::store::Store;

/// How often the backlog is read.
const EVERY: Duration = Duration::from_millis(50);

/// How long a post waits for the backlog to drop below its bound before it is refused.
pub const ADMIT_WAIT: Duration = Duration::from_millis(500);

/// The backlog as last read, and whether it is past its bound.
#[derive(Debug)]
pub struct Backlog {
    bound: i64,
    depth: AtomicI64,
    over: watch::Sender<bool>,
}

impl Backlog {
    /// A backlog bounded at `bound` executions (0: no bound).
    pub fn new(bound: u64) -> Self {
        Self {
            bound: i64::try_from(bound).unwrap_or(i64::MAX),
            depth: AtomicI64::new(0),
            over: watch::Sender::new(false),
        }
    }

    /// Waits (up to `limit`) while the backlog is past its bound; answers why a post must be
    /// refused if it still is.
    pub async fn admit(&self, limit: Duration) -> Option<String> {
        if !*self.over.borrow() {
            return None;
        }
        let mut over = self.over.subscribe();
        let drained = tokio::time::timeout(limit, over.wait_for(|over| !*over)).await;
        match drained {
            Ok(Ok(_)) => None,
            _ => self.refusal(),
        }
    }

    /// Why a post must wait, when the backlog is past its bound.
    pub fn refusal(&self) -> Option<String> {
        self.over.borrow().then(|| {
            format!(
                "the delivery backlog ({} executions due) stayed past its bound of {} for {} ms; retry in a second",
                self.depth.load(Ordering::Relaxed),
                self.bound,
                ADMIT_WAIT.as_millis()
            )
        })
    }

    fn record(&self, depth: i64) {
        self.depth.store(depth, Ordering::Relaxed);
        self.over.send_if_modified(|over| {
            let now = self.bound > 0 && depth >= self.bound;
            std::mem::replace(over, now) != now
        });
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

    #[tokio::test]
    async fn a_post_waits_for_the_backlog_to_drain_then_is_admitted_or_refused() {
        let backlog = Arc::new(Backlog::new(10));
        backlog.record(50);
        let waiting = {
            let backlog = backlog.clone();
            tokio::spawn(async move { backlog.admit(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "admitted while over the bound");
        backlog.record(3);
        assert_eq!(waiting.await.unwrap(), None, "admitted once drained");
        backlog.record(10);
        let refused = backlog.admit(Duration::from_millis(30)).await;
        assert!(refused.unwrap().contains("stayed past its bound"));
    }
}
