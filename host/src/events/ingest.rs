//! Ingest: match posted events against the automation index, build their executions (snapshot,
//! rendered payload, rate limit), store events and executions in one transaction, and hand fresh
//! executions to the local dispatcher. The HTTP layer parses and authorises; this does the rest.

use std::sync::Arc;

use super::template::Resolved;
use super::{Event, Variables};
use crate::automations::Automation;
use crate::automations::index::AutomationIndex;
use crate::automations::ratelimit::RateLimiter;
use crate::delivery::handoff::DeliveryLink;
use crate::delivery::status::ExecutionStatus;
use crate::ids::ExecutionId;
use crate::metrics::Metrics;
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
    /// committed.
    pub async fn events(
        &self,
        entity_id: i64,
        events: Vec<(Event, Option<String>)>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let prepared = events
            .into_iter()
            .map(|(event, key)| prepare(self, entity_id, event, key))
            .collect();
        store_events(self, entity_id, prepared).await
    }
}

/// An event ready to store: its executions, and the automation behind each (for hand-over).
struct Prepared {
    item: EventToStore,
    automations: Vec<Arc<Automation>>,
}

/// Matches an event and builds its executions: the automation snapshot and the rendered payload
/// (secrets as placeholders, filled in at send time).
fn prepare(
    ingest: &Ingest,
    entity_id: i64,
    event: Event,
    idempotency_key: Option<String>,
) -> Prepared {
    let now = std::time::Instant::now();
    let document = serde_json::to_value(&event.input).expect("an event serialises");
    let matched = ingest.index.matching(entity_id, &event.input, &document);
    let mut executions = Vec::with_capacity(matched.len());
    let mut automations = Vec::with_capacity(matched.len());
    for compiled in matched {
        let automation = &compiled.automation;
        let id = ExecutionId::generate();
        let rendered = compiled.template.as_ref().map(|template| {
            let variables = Variables::of(&event, &automation.name, None);
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
        let over_limit = automation
            .rate_limit
            .filter(|limit| !ingest.rate_limiter.admit(&automation.id, *limit, now));
        let (status, status_reason) = match (over_limit, too_large) {
            (Some(limit), _) => (
                ExecutionStatus::Skipped,
                Some(format!(
                    "rate limit: at most {} per {} s",
                    limit.max, limit.per_seconds
                )),
            ),
            (None, Some(error)) => (ExecutionStatus::Failed, Some(format!("invalid: {error}"))),
            (None, None) => (ExecutionStatus::Pending, None),
        };
        executions.push(NewExecution {
            id,
            automation_id: automation.id.clone(),
            automation: compiled.snapshot.clone(),
            leased: false,
            payload,
            status,
            status_reason,
        });
        automations.push(automation.clone());
    }
    Prepared {
        item: EventToStore {
            event: Arc::new(event),
            idempotency_key,
            executions,
        },
        automations,
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
    // (event index, plugin, status) of each execution, counted once it is stored.
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
            created.push((index, automation.action.plugin.clone(), execution.status));
            if left > 0 && is_pending(execution) {
                left -= 1;
                execution.leased = true;
                let claimed = Claimed {
                    id: execution.id.clone(),
                    entity_id,
                    attempt: 1,
                    automation,
                    event: item.event.clone(),
                    payload: execution.payload.clone(),
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
    for (index, plugin, status) in created {
        if !outcomes[index].duplicate {
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
