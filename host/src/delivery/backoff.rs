//! Backing off while the store fails: 100 ms doubling to 10 s, logging the change of state
//! once, and knowing when a run of failures began.

use std::time::Duration;

use crate::store::unix_millis;

/// Exponential backoff for store faults: 100 ms doubling to 10 s.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
    /// When the current run of failures began (Unix ms).
    since_ms: i64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(10);

    /// Counts a failure; returns how long to wait before trying again.
    pub(super) fn failed(&mut self) -> Duration {
        if self.failures == 0 {
            self.since_ms = unix_millis();
        }
        self.failures += 1;
        Self::FIRST
            .saturating_mul(1 << (self.failures - 1).min(10))
            .min(Self::MAX)
    }

    /// Whether the failure just counted was the first of a run (the one to log).
    pub(super) fn first_failure(&self) -> bool {
        self.failures == 1
    }

    /// Counts a success; when it ends a run of failures, when that run began (Unix ms).
    pub(super) fn recovered(&mut self) -> Option<i64> {
        (std::mem::take(&mut self.failures) > 0).then_some(self.since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_backoff_doubles_to_a_cap_and_resets() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.failed(), Duration::from_millis(100));
        assert!(backoff.first_failure());
        assert_eq!(backoff.failed(), Duration::from_millis(200));
        assert!(!backoff.first_failure());
        for _ in 0..20 {
            assert!(backoff.failed() <= Duration::from_secs(10));
        }
        assert_eq!(backoff.failed(), Duration::from_secs(10));
        assert!(backoff.recovered().is_some_and(|since| since > 0));
        assert!(backoff.recovered().is_none());
    }
}
