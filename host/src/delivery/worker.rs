//! The dispatcher: claims due executions with a lease, runs each attempt on a bounded pool of
//! tasks, settles it (succeeded, failed, or retried with backoff and jitter, never sooner than the
//! receiver's `Retry-After`), and on shutdown stops claiming, lets in-flight attempts finish
//! within a grace period, and releases the rest.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use tokio::sync::{Semaphore, mpsc, watch};

use super::attempt::Deliverer;
use super::backoff::Backoff;
use super::config::{DeliveryConfig, next_retry};
use super::handoff::{DeliveryLink, Reservation};
use super::operational::{Operational, OperationalSink};
use super::status::ExecutionStatus;
use super::verdict::Verdict;
use crate::metrics::Metrics;
use crate::model::event::EventType;
use crate::store::{Claimed, FinishedAttempt, Settlement, Store, unix_millis};

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
    /// Operational events (an integration disabled, an execution failing) go to `operational`.
    pub async fn start(
        deliverer: Deliverer,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
        link: DeliveryLink,
        host: &str,
        operational: Arc<dyn OperationalSink>,
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
            operational,
            in_flight: Default::default(),
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
    operational: Arc<dyn OperationalSink>,
    /// The executions this process holds (waiting for a slot or being attempted): after a
    /// database failure, this process's other claims were lost with their answers.
    in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
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
                    let id = execution.id.to_string();
                    run.deliver(execution).await;
                    run.in_flight.lock().expect("not poisoned").remove(&id);
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
                        if let Some(failed_at) = store_backoff.recovered() {
                            tracing::info!("claiming executions works again");
                            run.release_lost_claims(failed_at + lease_ms).await;
                        }
                        // A full claim: there may be more.
                        look = claimed.len() == free;
                        run.track(claimed.iter().map(|c| &c.id));
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
                    run.track([&execution.id]);
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
        let automation = &execution.automation;
        let integration = automation.action.integration.as_deref();
        if let Some(name) = integration
            && self.deliverer.is_disabled(execution.entity_id, name).await
        {
            self.hold(&execution, name).await;
            return;
        }
        let started = Instant::now();
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
                    FinishedAttempt {
                        number: execution.attempt,
                        record: record.clone(),
                        duration_ms,
                        integration: integration
                            .map(|name| (execution.entity_id, name.to_string())),
                    },
                    settlement.clone(),
                )
                .await
            {
                Ok(true) => {
                    self.settled(&execution, &settlement).await;
                    break;
                }
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

impl Run {
    /// Notes executions this process now holds.
    fn track<'a>(&self, ids: impl IntoIterator<Item = &'a crate::ids::ExecutionId>) {
        let mut in_flight = self.in_flight.lock().expect("not poisoned");
        in_flight.extend(ids.into_iter().map(ToString::to_string));
    }

    /// After a database failure: this process's claims made before it (their lease ends by
    /// `leased_until_at_most_ms`) that it does not hold were lost with their answers (a claim
    /// or an ingest committed, its answer not received). Due again now, not when their lease
    /// lapses.
    async fn release_lost_claims(&self, leased_until_at_most_ms: i64) {
        let in_flight: Vec<String> = self
            .in_flight
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect();
        match self
            .deliverer
            .store
            .release_lost_claims(&self.owner, leased_until_at_most_ms, in_flight)
            .await
        {
            Ok(0) => {}
            Ok(released) => {
                tracing::warn!(
                    released,
                    "claims lost in the database failure are due again"
                );
                self.link.wake();
            }
            Err(error) => {
                tracing::warn!(%error, "could not re-check this host's claims; their lease brings them back")
            }
        }
    }

    /// Gives the claim back, held while its integration stays disabled.
    async fn hold(&self, execution: &Claimed, integration: &str) {
        let store = &self.deliverer.store;
        match store
            .hold_claim(&execution.id, &self.owner, execution.entity_id, integration)
            .await
        {
            Ok(_) => {
                tracing::debug!(execution = %execution.id, integration, "held: the integration is disabled")
            }
            // The lease brings it back, and it is held then.
            Err(error) => {
                tracing::warn!(execution = %execution.id, %error, "could not hold an execution")
            }
        }
    }

    /// After an outcome is recorded: counts a failure against the integration (which may
    /// disable it) and raises the operational events it calls for. An execution of an
    /// automation on operational events raises none (it counts all the same), so no automation
    /// can feed itself.
    async fn settled(&self, execution: &Claimed, settlement: &Settlement) {
        let automation = &execution.automation;
        let integration = automation.action.integration.as_deref();
        let quiet = execution.event.input.event_type.is_operational();
        let raise = |kind, reason: Option<String>| {
            if !quiet {
                let about = (automation.name.as_str(), &execution.id, execution.attempt);
                let event =
                    Operational::execution(kind, &automation.entity, integration, about, reason);
                self.operational.raise(execution.entity_id, event);
            }
        };
        let failing_after = self.config.failing_after_attempts;
        let exhausted = match settlement {
            Settlement::Succeeded(_) => {
                if execution.attempt > failing_after {
                    raise(EventType::ExecutionRecovered, None);
                }
                return;
            }
            Settlement::Failed(reason) => {
                raise(EventType::ExecutionExhausted, Some(reason.clone()));
                true
            }
            Settlement::Retry { reason, .. } => {
                if execution.attempt == failing_after {
                    raise(EventType::ExecutionFailing, Some(reason.clone()));
                }
                false
            }
        };
        let Some(integration) = integration else {
            return;
        };
        let default_ms = self.config.disable_after.as_millis() as i64;
        match self
            .deliverer
            .store
            .integration_failed(execution.entity_id, integration, exhausted, default_ms)
            .await
        {
            Ok(Some(reason)) => {
                tracing::warn!(
                    integration,
                    entity = %automation.entity,
                    %reason,
                    "integration disabled: its executions are held until an admin enables it"
                );
                let entry = crate::store::AuditRecord::by_herald(
                    crate::model::audit::AuditAction::IntegrationDisabled,
                    integration,
                    serde_json::json!({"name": integration, "reason": reason}),
                );
                if let Err(error) = self
                    .deliverer
                    .store
                    .record_audit(execution.entity_id, entry)
                    .await
                {
                    tracing::error!(integration, %error, "the audit log could not record an automatic disable");
                }
                if !quiet {
                    let event = Operational::integration(
                        EventType::IntegrationDisabled,
                        &automation.entity,
                        integration,
                        Some(reason),
                        unix_millis(),
                    );
                    self.operational.raise(execution.entity_id, event);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(integration, %error, "could not count a failed delivery against its integration")
            }
        }
    }
}
