//! How delivery behaves: the `[delivery]` settings (workers, leases, timeouts, priority) and the
//! retry schedule they set, with jitter and the receiver's `Retry-After`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How delivery behaves. Every field has a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts running at once; 0 makes an ingest-only host that delivers nothing.
    pub workers: usize,
    /// Waits before each retry (the n-th retry waits the n-th entry); when the list runs out the
    /// execution fails.
    #[serde(with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// Each wait is stretched by a random 0..jitter fraction, so retries of a burst spread out.
    pub jitter: f64,
    /// How long a claim holds before another worker may take the execution over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Time to connect to a receiver.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time for a whole request and response.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// At shutdown, how long in-flight attempts may take to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How often to look for due retries when nothing wakes the dispatcher sooner.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How much lower than the API's the delivery threads' scheduling priority is (a `nice`
    /// increment, 0 to 19): plugins that spin their CPU budget must not starve `/healthz` and
    /// ingest, while under saturating ingest deliveries must still keep up.
    pub nice: i32,
    /// An integration whose executions have failed for good for this long, with no success in
    /// between, is disabled: its executions are held until an admin enables it. `0s` = never.
    /// An integration's own `disable_after` overrides it.
    #[serde(with = "humantime_serde")]
    pub disable_after: Duration,
    /// The attempt whose transient failure raises `EXECUTION_FAILING` for its execution (and
    /// whose execution's later success raises `EXECUTION_RECOVERED`).
    pub failing_after_attempts: u32,
    /// Executions due and not yet delivered (pending or running) past which event posts are
    /// answered 503 with `Retry-After: 1`, so that at the maximum rate latency stays bounded
    /// (at about the bound ÷ the delivery rate) instead of the backlog growing without limit.
    /// 0 = no bound.
    pub max_backlog: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            workers: 64,
            retry_schedule: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            jitter: 0.2,
            lease: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            nice: DEFAULT_NICE,
            disable_after: Duration::from_secs(5 * 24 * 3600),
            failing_after_attempts: 3,
            max_backlog: 10_000,
        }
    }
}

mod durations {
    //! `["5s", "5m"]` as a list of durations.
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &[Duration],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            value
                .iter()
                .map(|d| humantime::format_duration(*d).to_string()),
        )
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| humantime::parse_duration(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// When to retry after attempt `attempt` (1-based) failed transiently, or `None` to give up.
pub fn next_retry(
    config: &DeliveryConfig,
    attempt: u32,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let base = *config
        .retry_schedule
        .get(attempt.saturating_sub(1) as usize)?;
    let jitter =
        f64::from(u32::from_le_bytes(crate::auth::random_bytes::<4>())) / f64::from(u32::MAX);
    let wait = base.mul_f64(1.0 + config.jitter.clamp(0.0, 1.0) * jitter);
    let asked = retry_after.and_then(|value| parse_retry_after(value, now));
    Some(asked.map_or(wait, |asked| asked.max(wait)))
}

/// A `Retry-After` value: delay seconds, or an HTTP date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds.min(7 * 24 * 3600)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// The default [`DeliveryConfig::nice`]: its own threads already keep plugins from starving the
/// API, and a lower priority lets a saturating ingest starve deliveries (BENCHMARKS.md).
const DEFAULT_NICE: i32 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn schedule_jitter_and_retry_after() {
        let config = DeliveryConfig {
            retry_schedule: vec![Duration::from_secs(10), Duration::from_secs(60)],
            jitter: 0.2,
            ..Default::default()
        };
        let now = SystemTime::now();
        let waits: Vec<Duration> = (0..100)
            .map(|_| next_retry(&config, 1, None, now).unwrap())
            .collect();
        for wait in &waits {
            assert!(
                *wait >= Duration::from_secs(10) && *wait <= Duration::from_secs(12),
                "{wait:?}"
            );
        }
        // Jitter is applied: the waits spread over the range (all 100 on one side of its middle
        // has a chance of 2^-99).
        let middle = Duration::from_secs(11);
        assert!(
            waits.iter().any(|w| *w > middle) && waits.iter().any(|w| *w < middle),
            "no spread: {waits:?}"
        );
        assert!(next_retry(&config, 2, Some("600"), now).unwrap() >= Duration::from_secs(600));
        assert!(next_retry(&config, 2, Some("1"), now).unwrap() >= Duration::from_secs(60));
        assert_eq!(
            next_retry(&config, 3, None, now),
            None,
            "the schedule ran out"
        );
    }
}
