//! Ingest: every event's one path into the store. An event posted by a client, a launched run's
//! state (`leases/`) and a run gone silent (`liveness.rs`) are all matched against the automation
//! index here, their executions built (snapshot, rendered payload, rate limit), stored with the
//! event in one transaction, and handed to the local dispatcher. The HTTP layer parses and
//! authorises; this does the rest.

pub mod backpressure;
pub mod liveness;
mod operational;

use std::sync::Arc;

use crate::automations::Automation;
use crate::automations::index::{AutomationIndex, Compiled};
use crate::automations::ratelimit::RateLimiter;
use crate::automations::runs::{RunKey, RunState, RunStates, Sample, Verdict};
use crate::delivery::handoff::DeliveryLink;
use crate::events::template::Resolved;
use crate::events::variables::{Variables, float_json};
use crate::ids::ExecutionId;
use crate::metrics::Metrics;
use crate::model::event::{Event, EventInput, EventType, MetricContext, RunState as RunStateKind};
use crate::model::execution::ExecutionStatus;
use crate::secrets::refs::RefKey;
use crate::store::{Claimed, EventToStore, IngestOutcome, NewExecution, Store, StoreError};

/// What ingest needs; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    /// Where events and executions are stored.
    pub store: Store,
    /// Enabled automations, indexed for matching.
    pub index: Arc<AutomationIndex>,
    /// Per-automation rate limits.
    pub rate_limiter: Arc<RateLimiter>,
    /// Run-metric windows and cooldowns.
    pub runs: Arc<RunStates>,
    /// What events record of their runs' liveness.
    pub liveness: Arc<liveness::RunLiveness>,
    /// Tags the secret placeholders of rendered payloads.
    pub refs: RefKey,
    /// Wakes the dispatcher and takes the executions leased to it.
    pub delivery: DeliveryLink,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl Ingest {
    /// Matches and stores events of one entity, each with its idempotency key; returns one
    /// outcome per event, in order. Durable when it returns: the events and their executions are
    /// committed. Run-metric samples are evaluated in order, a batch keeping its order.
    pub async fn events(
        &self,
        entity_id: i64,
        events: Vec<(Event, Option<String>)>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        // On a shared database the hosts take turns with a run's windows: this one catches up
        // with what the others stored, evaluates and stores while holding the run's lock.
        let watched: Vec<String> = if self.store.is_shared() {
            events
                .iter()
                .filter_map(|(event, _)| {
                    let key = run_key(entity_id, &event.input)?;
                    watched(self, entity_id, &event.input).then(|| key.lock_name())
                })
                .collect()
        } else {
            Vec::new()
        };
        if watched.is_empty() {
            return self.events_in_turn(entity_id, events).await;
        }
        let lock = self.store.lock_runs(watched).await?;
        let outcomes = self.events_in_turn(entity_id, events).await;
        lock.release().await;
        outcomes
    }

    /// [`Ingest::events`], once the runs it touches are this host's to evaluate.
    async fn events_in_turn(
        &self,
        entity_id: i64,
        events: Vec<(Event, Option<String>)>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        // The batch's runs stay in memory until it is stored, however many runs it names.
        let _pinned = self.runs.pin(
            events
                .iter()
                .filter_map(|(event, _)| run_key(entity_id, &event.input)),
        );
        self.load_runs(entity_id, &events).await?;
        let mut runs = Vec::with_capacity(events.len());
        let prepared = events
            .into_iter()
            .map(|(event, key)| {
                runs.push(run_key(entity_id, &event.input));
                prepare(self, entity_id, event, key)
            })
            .collect();
        let outcomes = store_events(self, entity_id, prepared).await;
        // Samples applied in memory but not stored (a failed write, a repeated idempotency key)
        // must not count: the run is rebuilt from what was stored when it logs again.
        for (index, key) in runs.iter().enumerate() {
            let Some(key) = key else { continue };
            match outcomes.as_ref().map(|o| &o[index]) {
                Ok(outcome) if !outcome.duplicate => self.runs.stored(key, outcome.seq),
                _ => self.runs.forget(key),
            }
        }
        outcomes
    }

    /// Rebuilds, from its stored samples, the state of every run in `events` that some metric
    /// automation watches and that is not in memory (after a start, or an eviction). On a
    /// shared database a run in memory also takes in the samples other hosts stored since.
    async fn load_runs(
        &self,
        entity_id: i64,
        events: &[(Event, Option<String>)],
    ) -> Result<(), StoreError> {
        let shared = self.store.is_shared();
        for (event, _) in events {
            let Some(key) = run_key(entity_id, &event.input) else {
                continue;
            };
            let seen = self.runs.seen(&key);
            if (seen.is_some() && !shared) || !watched(self, entity_id, &event.input) {
                continue;
            }
            let samples = self
                .store
                .run_samples(entity_id, &key.project, &key.run_id, seen.unwrap_or(0))
                .await?;
            let replay = |state: &mut RunState| {
                let mut scratch = Vec::new();
                for (seq, at_ms, event) in &samples {
                    state.stored(*seq);
                    if !state.step(event.input.step) {
                        continue;
                    }
                    let candidates = candidates(self, entity_id, event);
                    for (name, value) in event.input.metrics.iter().flatten() {
                        let keep = self.index.window(entity_id, name);
                        let sample = Sample {
                            metric: name,
                            value: *value,
                            step: event.input.step,
                            at_ms: *at_ms,
                        };
                        state.apply(keep, &candidates, sample, &mut scratch, |_, _| {});
                    }
                }
            };
            match seen {
                Some(_) => self.runs.with(&key, replay),
                None => {
                    let mut state = RunState::default();
                    replay(&mut state);
                    self.runs.insert(key, state);
                }
            }
        }
        Ok(())
    }
}

/// The run a metric sample belongs to; `None` for other events.
fn run_key(entity_id: i64, input: &EventInput) -> Option<RunKey> {
    (input.event_type == EventType::RunMetric).then(|| RunKey {
        entity_id,
        project: input.project_name().to_string(),
        run_id: input.run_id.clone().unwrap_or_default(),
    })
}

/// Whether some enabled automation of the entity watches a metric of a sample (then its run
/// keeps windows, whichever automations the sample matches).
fn watched(ingest: &Ingest, entity_id: i64, input: &EventInput) -> bool {
    input.metrics.as_ref().is_some_and(|metrics| {
        ingest
            .index
            .watches_any(entity_id, metrics.keys().map(String::as_str))
    })
}

/// The enabled automations whose scope, trigger and filter hold on an event.
fn candidates(ingest: &Ingest, entity_id: i64, event: &Event) -> Vec<Arc<Compiled>> {
    let document = serde_json::to_value(&event.input).expect("an event serialises");
    ingest.index.matching(entity_id, &event.input, &document)
}

/// An event ready to store: its executions, and the automation behind each (for hand-over).
struct Prepared {
    item: EventToStore,
    automations: Vec<Arc<Automation>>,
}

/// Matches an event and builds its executions: the automation snapshot and the rendered payload
/// (secrets as placeholders, filled in at send time). A metric sample first goes through its
/// run's windows: only the automations whose condition held (outside their cooldown) fire.
fn prepare(
    ingest: &Ingest,
    entity_id: i64,
    event: Event,
    idempotency_key: Option<String>,
) -> Prepared {
    let now = std::time::Instant::now();
    let run = ingest
        .liveness
        .touch(entity_id, &event, crate::store::unix_millis());
    let matched = candidates(ingest, entity_id, &event);
    let fired: Vec<(Arc<Compiled>, Option<MetricContext>)> = match run_key(entity_id, &event.input)
    {
        Some(key) if watched(ingest, entity_id, &event.input) => {
            evaluate_sample(ingest, &key, &event, &matched)
        }
        Some(key) => {
            ingest.runs.step(&key, event.input.step);
            Vec::new()
        }
        None => {
            if let (EventType::RunState, Some(RunStateKind::Finished | RunStateKind::Failed)) =
                (event.input.event_type, event.input.state)
            {
                // A finished run logs no more samples: its windows are dropped now.
                ingest.runs.forget(&RunKey {
                    entity_id,
                    project: event.input.project_name().to_string(),
                    run_id: event.input.run_id.clone().unwrap_or_default(),
                });
            }
            matched.into_iter().map(|c| (c, None)).collect()
        }
    };
    let mut executions = Vec::with_capacity(fired.len());
    let mut automations = Vec::with_capacity(fired.len());
    for (compiled, metric) in fired {
        executions.push(new_execution(ingest, &event, &compiled, metric, now));
        automations.push(compiled.automation.clone());
    }
    Prepared {
        item: EventToStore {
            event: Arc::new(event),
            idempotency_key,
            executions,
            run,
        },
        automations,
    }
}

/// Takes every metric of a sample into its run's windows and returns the automations that fire,
/// each with what fired it.
fn evaluate_sample(
    ingest: &Ingest,
    key: &RunKey,
    event: &Event,
    matched: &[Arc<Compiled>],
) -> Vec<(Arc<Compiled>, Option<MetricContext>)> {
    let at_ms = crate::events::unix_ms(std::time::SystemTime::now());
    let mut fired = Vec::new();
    let mut suppressed = 0;
    ingest.runs.with(key, |state| {
        if !state.step(event.input.step) {
            return;
        }
        let mut scratch = Vec::new();
        for (name, value) in event.input.metrics.iter().flatten() {
            let sample = Sample {
                metric: name,
                value: *value,
                step: event.input.step,
                at_ms,
            };
            state.apply(
                ingest.index.window(key.entity_id, name),
                matched,
                sample,
                &mut scratch,
                |compiled, verdict| match verdict {
                    Verdict::Fire(firing) => {
                        let condition = compiled.metric.as_ref().expect("it has a condition");
                        let context = MetricContext {
                            name: name.clone(),
                            value: float_json(firing.value),
                            values: firing.values.iter().map(|x| float_json(*x)).collect(),
                            condition: condition.describe(),
                        };
                        fired.push((compiled.clone(), Some(context)));
                    }
                    Verdict::Suppressed => suppressed += 1,
                },
            );
        }
    });
    ingest.metrics.metric_firings_suppressed(suppressed);
    fired
}

/// One execution of `compiled` for `event`: snapshot, rendered payload, rate limit.
fn new_execution(
    ingest: &Ingest,
    event: &Event,
    compiled: &Compiled,
    metric: Option<MetricContext>,
    now: std::time::Instant,
) -> NewExecution {
    let automation = &compiled.automation;
    let id = ExecutionId::generate();
    let rendered = compiled.template.as_ref().map(|template| {
        let variables = Variables::of(event, &automation.name, metric.as_ref());
        let tag = ingest.refs.tag(id.as_str());
        template
            .render(&tag, |name| match variables.get(name) {
                Some(value) => Some(Resolved::Variable(value)),
                None => Some(Resolved::Secret),
            })
            .map(|payload| payload.to_string())
    });
    let (payload, too_large) = match rendered {
        Some(Ok(payload)) => (Some(payload), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    // On a shared database the window counts every host's executions: the store applies it.
    let shared = ingest.store.is_shared();
    let over_limit = automation
        .rate_limit
        .filter(|limit| !shared && !ingest.rate_limiter.admit(&automation.id, *limit, now));
    let (status, status_reason) = match (over_limit, too_large) {
        (Some(limit), _) => (ExecutionStatus::Skipped, Some(limit.refusal())),
        (None, Some(error)) => (ExecutionStatus::Failed, Some(format!("invalid: {error}"))),
        (None, None) => (ExecutionStatus::Pending, None),
    };
    NewExecution {
        id,
        automation_id: automation.id.clone(),
        automation: compiled.snapshot.clone(),
        leased: false,
        payload,
        status,
        status_reason,
        trigger: metric.map(|m| serde_json::to_string(&m).expect("a context serialises")),
        rate_limit: automation.rate_limit.filter(|_| shared),
    }
}

/// Stores events with their executions. As many pending executions as the dispatcher has room
/// for are leased to it in the same transaction and handed over once committed; the rest wait in
/// the store, and the dispatcher is woken to claim them.
async fn store_events(
    ingest: &Ingest,
    entity_id: i64,
    prepared: Vec<Prepared>,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let is_pending = |e: &NewExecution| e.status == ExecutionStatus::Pending;
    let pending: usize = prepared
        .iter()
        .map(|p| p.item.executions.iter().filter(|e| is_pending(e)).count())
        .sum();
    let mut lease = ingest.delivery.lease(pending);
    let mut left = lease.as_ref().map_or(0, |lease| lease.count);
    let mut handoffs = Vec::with_capacity(left);
    let mut items = Vec::with_capacity(prepared.len());
    // (event index, plugin, status, id) of each execution, counted once it is stored.
    let mut created = Vec::new();
    for (
        index,
        Prepared {
            mut item,
            automations,
        },
    ) in prepared.into_iter().enumerate()
    {
        for (execution, automation) in item.executions.iter_mut().zip(automations) {
            created.push((
                index,
                automation.action.plugin.clone(),
                execution.status,
                execution.id.clone(),
            ));
            // One the store may yet skip for its rate limit is not handed over: it is claimed
            // once stored, if it was admitted.
            if left > 0 && is_pending(execution) && execution.rate_limit.is_none() {
                left -= 1;
                execution.leased = true;
                let claimed = Claimed {
                    id: execution.id.clone(),
                    entity_id,
                    attempt: 1,
                    automation,
                    event: item.event.clone(),
                    payload: execution.payload.clone(),
                    metric: execution
                        .trigger
                        .as_deref()
                        .and_then(|t| serde_json::from_str(t).ok()),
                };
                handoffs.push((index, claimed));
            }
        }
        items.push(item);
    }
    let leased_to = lease.as_ref().map(|l| (l.owner.clone(), l.until_ms));
    let outcomes = ingest.store.ingest(entity_id, items, leased_to).await?;
    let mut handed = 0;
    if let Some(lease) = &mut lease {
        for (index, claimed) in handoffs {
            // A repeated idempotency key created nothing: there is nothing to deliver.
            if !outcomes[index].duplicate {
                lease.hand_over(claimed);
                handed += 1;
            }
        }
    }
    drop(lease);
    // A repeated idempotency key stored nothing: its executions are not counted.
    for (index, plugin, status, id) in created {
        let outcome = &outcomes[index];
        if !outcome.duplicate {
            let status = if outcome.rate_limited.contains(&id) {
                ExecutionStatus::Skipped
            } else {
                status
            };
            ingest.metrics.execution_created(&plugin, status);
        }
    }
    let new: Vec<_> = outcomes.iter().filter(|o| !o.duplicate).collect();
    ingest.metrics.events_ingested(new.len() as u64);
    if pending > handed && new.iter().any(|o| o.matched > 0) {
        ingest.delivery.wake();
    }
    Ok(outcomes)
}
