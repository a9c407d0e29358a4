//! Per-automation rate limits: at most `max` executions in any `per_seconds` window. What is over
//! the limit is still recorded, as `skipped`. The windows live in memory (a restart forgets them).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::RateLimit;
use crate::ids::AutomationId;

/// Sliding windows of recent executions, by automation id.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<AutomationId, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Whether one more execution of `automation_id` fits `limit` now; if it does, it is counted.
    pub fn admit(&self, automation_id: &AutomationId, limit: RateLimit, now: Instant) -> bool {
        let window = Duration::from_secs(u64::from(limit.per_seconds));
        let mut windows = self.windows.lock().expect("not poisoned");
        let recent = windows.entry(automation_id.clone()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            recent.pop_front();
        }
        if recent.len() >= limit.max as usize {
            return false;
        }
        recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_window() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            max: 2,
            per_seconds: 60,
        };
        let start = Instant::now();
        assert!(limiter.admit(&"a".into(), limit, start));
        assert!(limiter.admit(&"a".into(), limit, start + Duration::from_secs(1)));
        assert!(!limiter.admit(&"a".into(), limit, start + Duration::from_secs(2)));
        assert!(
            limiter.admit(&"b".into(), limit, start),
            "limits are per automation"
        );
        assert!(
            limiter.admit(&"a".into(), limit, start + Duration::from_secs(61)),
            "the window slides"
        );
    }
}
