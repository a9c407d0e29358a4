//! The dispatcher: claims due executions with a lease, runs each attempt on a bounded pool of
//! tasks, settles it (succeeded, failed, or retried with backoff and jitter, never sooner than the
//! receiver's `Retry-After`), and on shutdown stops claiming, lets in-flight attempts finish
//! within a grace period, and releases the rest.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};

use super::attempt::{Deliverer, Verdict};
use super::handoff::{DeliveryLink, Reservation};
use super::status::ExecutionStatus;
use crate::metrics::Metrics;
use crate::store::{Claimed, Settlement, Store, unix_millis};

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

/// The running dispatcher. Its attempts (plugin code included) run on a runtime of their own,
/// whose threads' priority can be lowered (`delivery.nice`). [`Dispatcher::shutdown`] stops it; dropping it
/// abandons what is in flight (the leases bring it back).
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    owner: String,
    store: Store,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The delivery runtime: one worker thread per core, each lowered by `nice`.
fn delivery_runtime(nice: i32) -> anyhow::Result<tokio::runtime::Runtime> {
    anyhow::ensure!(
        (0..=19).contains(&nice),
        "delivery.nice must be 0 to 19, not {nice}"
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("herald-delivery")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()
        .context("starting the delivery runtime")
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    // SAFETY: gettid and setpriority take no pointers; on Linux a thread id names one thread,
    // so only this thread's priority changes. A failure leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // A runtime may not be dropped from async code; this one's threads are let go instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Dispatcher {
    /// Recovers executions abandoned by a previous process of this host, connects to `link`
    /// (which wakes it and hands it executions leased at ingest), then starts claiming. `host` is
    /// the host's lasting name ([`crate::server::host_id`]): its claims are held as
    /// `<host>.<process>`, so a restarted host knows its previous process's claims for dead.
    pub async fn start(
        deliverer: Deliverer,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
        link: DeliveryLink,
        host: &str,
    ) -> anyhow::Result<Self> {
        let owner = crate::auth::random_id(&format!("{host}."));
        let store = deliverer.store.clone();
        let recovered = store.recover_abandoned(host, &owner).await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "executions left running by a stopped host are due again"
            );
        }
        let lease_ms = config.lease.as_millis() as i64;
        // Half the slots at most go to handed-over executions: the claim loop keeps the rest for
        // retries and for what waits in the store.
        let handed = link
            .connect(&owner, lease_ms, config.workers / 2)
            .context("a dispatcher is already connected to this host")?;
        let (stop, stopped) = watch::channel(false);
        let run_nice = config.nice;
        let run = Run {
            deliverer,
            config,
            metrics,
            owner: owner.clone(),
            link,
        };
        let runtime = delivery_runtime(run_nice)?;
        let task = runtime.spawn(run.claim_loop(stopped, handed));
        Ok(Self {
            stop,
            task,
            owner,
            store,
            runtime: Some(runtime),
        })
    }

    /// Stops claiming, waits up to the grace period for in-flight attempts, then releases what is
    /// still claimed (handed-over executions that had not started included) so that the next
    /// start delivers it.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            tracing::warn!(
                ?grace,
                "in-flight deliveries did not finish within the grace period"
            );
        }
        match self.store.release_claims(&self.owner).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "released unfinished claims"),
            Err(error) => {
                tracing::error!(%error, "could not release claims; they come back when their lease ends")
            }
        }
    }
}

struct Run {
    deliverer: Deliverer,
    config: DeliveryConfig,
    metrics: Arc<Metrics>,
    owner: String,
    link: DeliveryLink,
}

/// An execution waiting for a slot, with its reservation when an ingest handed it over.
type Waiting = (Claimed, Option<Reservation>);

impl Run {
    async fn claim_loop(
        self,
        mut stopped: watch::Receiver<bool>,
        mut handed: mpsc::UnboundedReceiver<(Claimed, Reservation)>,
    ) {
        let run = Arc::new(self);
        let workers = run.config.workers.max(1);
        let slots = Arc::new(Semaphore::new(workers));
        let mut tasks = tokio::task::JoinSet::new();
        let mut waiting: VecDeque<Waiting> = VecDeque::new();
        // Whether the store may hold due executions: true at start, after a wake-up, when the due
        // time of the next retry came, and while claims come back full.
        let mut look = true;
        let mut next_look = tokio::time::Instant::now() + run.config.poll_interval;
        let mut store_backoff = Backoff::default();
        let lease_ms = run.config.lease.as_millis() as i64;
        while !*stopped.borrow() {
            while tasks.try_join_next().is_some() {}
            while !waiting.is_empty() {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let (execution, reservation) = waiting.pop_front().expect("not empty");
                let run = run.clone();
                tasks.spawn(async move {
                    run.deliver(execution).await;
                    drop(reservation);
                    drop(permit);
                });
            }
            let free = slots.available_permits();
            // Under load, claim in batches: one claim transaction per quarter of the slots, not
            // one per finished attempt (which would make the serial claim loop the bottleneck).
            let batch = (workers / 4).max(1);
            if look && waiting.is_empty() && free > 0 && (free >= batch || tasks.is_empty()) {
                match run
                    .deliverer
                    .store
                    .claim_due(&run.owner, lease_ms, free)
                    .await
                {
                    Ok(claimed) => {
                        if store_backoff.recovered() {
                            tracing::info!("claiming executions works again");
                        }
                        // A full claim: there may be more.
                        look = claimed.len() == free;
                        waiting.extend(claimed.into_iter().map(|c| (c, None)));
                    }
                    Err(error) => {
                        // Back off (and say so once), rather than retry in a tight loop.
                        let wait = store_backoff.failed();
                        if store_backoff.first_failure() {
                            tracing::error!(%error, "claiming executions fails; backing off until the store accepts it");
                        }
                        next_look = tokio::time::Instant::now() + wait;
                        look = false;
                        continue;
                    }
                }
                if !look {
                    let wait = match run.deliverer.store.next_due_ms().await {
                        Ok(Some(due)) => Duration::from_millis((due - unix_millis()).max(0) as u64),
                        _ => run.config.poll_interval,
                    }
                    .min(run.config.poll_interval);
                    next_look = tokio::time::Instant::now() + wait;
                }
                continue;
            }
            tokio::select! {
                _ = run.link.woken() => look = true,
                _ = tokio::time::sleep_until(next_look), if !look => look = true,
                Some((execution, reservation)) = handed.recv() => {
                    waiting.push_back((execution, Some(reservation)))
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = stopped.changed() => {}
            }
        }
        // Stopped: nothing new starts (what waits stays leased and is released by the caller);
        // let the in-flight attempts finish (the caller bounds the wait).
        while tasks.join_next().await.is_some() {}
    }

    async fn deliver(&self, execution: Claimed) {
        let started = Instant::now();
        let automation = &execution.automation;
        let (verdict, record, in_plugin) = self.deliverer.attempt(&execution).await;
        let elapsed = started.elapsed();
        let settlement = match &verdict {
            Verdict::Succeeded(summary) => Settlement::Succeeded(summary.clone()),
            Verdict::Permanent { .. } => Settlement::Failed(verdict.describe()),
            Verdict::Transient {
                reason,
                retry_after,
            } => {
                match next_retry(
                    &self.config,
                    execution.attempt,
                    retry_after.as_deref(),
                    SystemTime::now(),
                ) {
                    Some(wait) => Settlement::Retry {
                        at_ms: unix_millis() + wait.as_millis() as i64,
                        reason: reason.clone(),
                    },
                    None => Settlement::Failed(format!(
                        "gave up after {} attempts: {reason}",
                        execution.attempt
                    )),
                }
            }
        };
        let status = settlement.status();
        self.metrics
            .attempt(&automation.action.plugin, status, elapsed, in_plugin);
        let record = serde_json::to_string(&record).unwrap_or_else(|error| {
            serde_json::json!({"error": format!("the attempt record did not serialise: {error}")})
                .to_string()
        });
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        // An outcome is kept until the store records it: a receiver that answered during a
        // storage fault must not be sent the execution again once the fault is over.
        let mut backoff = Backoff::default();
        loop {
            match self
                .deliverer
                .store
                .finish_attempt(
                    &execution.id,
                    &self.owner,
                    execution.attempt,
                    record.clone(),
                    duration_ms,
                    settlement.clone(),
                )
                .await
            {
                Ok(true) => break,
                Ok(false) => {
                    tracing::warn!(execution = %execution.id, "lease lost before the attempt was recorded");
                    break;
                }
                Err(error) if error.is_unavailable() => {
                    let wait = backoff.failed();
                    if backoff.first_failure() {
                        tracing::warn!(execution = %execution.id, %error, "cannot record an attempt yet; keeping it until the store accepts it");
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    tracing::error!(execution = %execution.id, %error, "recording an attempt failed");
                    break;
                }
            }
        }
        tracing::debug!(execution = %execution.id, attempt = execution.attempt, status = status.as_str(), ?elapsed, "attempt finished");
        if status == ExecutionStatus::Retrying {
            // The claim loop may be sleeping past this retry's due time.
            self.link.wake();
        }
    }
}

/// Exponential backoff for store faults: 100 ms doubling to 10 s.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(10);

    /// Counts a failure; returns how long to wait before trying again.
    fn failed(&mut self) -> Duration {
        self.failures += 1;
        Self::FIRST
            .saturating_mul(1 << (self.failures - 1).min(10))
            .min(Self::MAX)
    }

    /// Whether the failure just counted was the first of a run (the one to log).
    fn first_failure(&self) -> bool {
        self.failures == 1
    }

    /// Counts a success; true when it ends a run of failures.
    fn recovered(&mut self) -> bool {
        std::mem::take(&mut self.failures) > 0
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
        assert!(backoff.recovered());
        assert!(!backoff.recovered());
    }

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
