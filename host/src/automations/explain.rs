//! Why an event did or did not fire each automation that listens for its type: the executions it
//! created say what fired (or was skipped, and why); for the others, the automation as it is now
//! is held against the event in the order matching applies its checks (enabled, age, scope,
//! filter, metric condition), and the first that fails is the reason.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::TriggerKind;
use super::index::Compiled;
use crate::events::Event;
use crate::ids::{AutomationId, ExecutionId};
use crate::model::execution::ExecutionStatus;
use crate::store::{received_ms, rfc3339_of_millis};

/// What happened to one automation for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It created an execution (see its status).
    Fired,
    /// It matched, but the execution was skipped (its rate limit was full).
    Skipped,
    /// It is disabled.
    Disabled,
    /// It did not exist yet, or started listening anew (a new scope or trigger) after the event.
    NotYetListening,
    /// The event happened outside its scope.
    Scope,
    /// Its filter did not hold for the event.
    Filter,
    /// The event carried no sample of the metric it watches, or its condition did not hold.
    Condition,
    /// Its condition could only fire again for the run after its cooldown.
    Cooldown,
    /// As it is now it would fire, but it changed after the event (so it did not then).
    Changed,
}

/// One automation considered for an event, with the verdict and a sentence saying why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Considered {
    /// The automation.
    pub automation_id: AutomationId,
    /// Its name (as it was when it fired, or as it is now).
    pub name: String,
    /// What happened.
    pub verdict: Verdict,
    /// Why, in a sentence.
    pub reason: String,
    /// The execution it created, when it fired or was skipped.
    pub execution_id: Option<ExecutionId>,
    /// Whether it changed after the event: a reason other than `fired` or `skipped` is judged on
    /// its definition as it is now.
    pub changed_since: bool,
}

/// An execution the event created, as the explanation needs it.
#[derive(Debug, Clone)]
pub struct Created {
    /// The execution.
    pub id: ExecutionId,
    /// The automation that created it.
    pub automation_id: AutomationId,
    /// Its name in the execution's snapshot.
    pub name: String,
    /// Its status.
    pub status: ExecutionStatus,
    /// Why it has that status.
    pub status_reason: Option<String>,
}

/// An earlier firing of a metric automation for the same run, inside its cooldown.
#[derive(Debug, Clone)]
pub struct EarlierFiring {
    /// The execution.
    pub id: ExecutionId,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// The event's facts the checks need.
pub struct Subject<'a> {
    /// The event.
    pub event: &'a Event,
    /// It as JSON (what filters look at).
    pub document: &'a Value,
    /// When the host received it (ms since the epoch).
    pub received_ms: i64,
}

/// The verdict for every automation in `automations` that listens for the event's type (others
/// are left out), and for each execution the event created (even of an automation since
/// deleted). `earlier` answers, for a metric automation that matched but did not fire, its last
/// firing for the same run inside its cooldown, if any. Fired first, then by name.
pub fn explain(
    subject: &Subject<'_>,
    automations: &[Arc<Compiled>],
    created: &[Created],
    earlier: impl Fn(&Compiled) -> Option<EarlierFiring>,
) -> Vec<Considered> {
    let kinds = TriggerKind::for_event(subject.event.input.event_type);
    let mut considered: Vec<Considered> = created
        .iter()
        .map(|execution| {
            let skipped = execution.status == ExecutionStatus::Skipped;
            let reason = match (&execution.status_reason, skipped) {
                (Some(reason), _) => reason.clone(),
                (None, true) => "skipped".to_string(),
                (None, false) => format!("created an execution, now {}", execution.status),
            };
            Considered {
                automation_id: execution.automation_id.clone(),
                name: execution.name.clone(),
                verdict: if skipped {
                    Verdict::Skipped
                } else {
                    Verdict::Fired
                },
                reason,
                execution_id: Some(execution.id.clone()),
                changed_since: false,
            }
        })
        .collect();
    for compiled in automations {
        let automation = &compiled.automation;
        if !kinds.contains(&automation.event.kind)
            || created.iter().any(|c| c.automation_id == automation.id)
        {
            continue;
        }
        let changed_since = received_ms(&automation.updated_at) > subject.received_ms;
        let (verdict, reason) = judge(subject, compiled, &earlier);
        considered.push(Considered {
            automation_id: automation.id.clone(),
            name: automation.name.clone(),
            verdict: verdict.unwrap_or(Verdict::Changed),
            reason,
            execution_id: None,
            changed_since,
        });
    }
    // Those that fired (or were skipped) first, then the rest, each by name.
    let unfired = |c: &Considered| !matches!(c.verdict, Verdict::Fired | Verdict::Skipped);
    considered.sort_by(|a, b| (unfired(a), &a.name).cmp(&(unfired(b), &b.name)));
    considered
}

/// The first check an automation fails for the event, or `None` when, as it is now, it passes
/// them all.
fn judge(
    subject: &Subject<'_>,
    compiled: &Compiled,
    earlier: &impl Fn(&Compiled) -> Option<EarlierFiring>,
) -> (Option<Verdict>, String) {
    let automation = &compiled.automation;
    let input = &subject.event.input;
    if !automation.enabled {
        return (Some(Verdict::Disabled), "it is disabled".to_string());
    }
    if received_ms(&automation.created_at) > subject.received_ms {
        let reason = format!(
            "it was created at {}, after the event",
            automation.created_at
        );
        return (Some(Verdict::NotYetListening), reason);
    }
    // Only a metric condition's windows start anew when its scope or trigger changes.
    if compiled.metric.is_some() && compiled.armed_ms > subject.received_ms {
        let reason = "its metric condition started listening anew (its scope or trigger changed) \
                      after the event";
        return (Some(Verdict::NotYetListening), reason.to_string());
    }
    if !super::index::scope_holds(&automation.scope, input) {
        let reason = format!(
            "the event is outside its scope ({})",
            serde_json::to_string(&automation.scope).unwrap_or_default()
        );
        return (Some(Verdict::Scope), reason);
    }
    if !compiled.filter.matches(subject.document) {
        let reason = match &automation.event.filter {
            Some(filter) => format!("its filter {filter} does not hold for the event"),
            None => "its filter does not hold for the event".to_string(),
        };
        return (Some(Verdict::Filter), reason);
    }
    if let Some(condition) = &compiled.metric {
        let sampled = input
            .metrics
            .as_ref()
            .is_some_and(|m| m.contains_key(&condition.name));
        if !sampled {
            let reason = format!("the event has no sample of `{}`", condition.name);
            return (Some(Verdict::Condition), reason);
        }
        if let Some(firing) = earlier(compiled) {
            let reason = format!(
                "its condition fires at most once per run every {} s, and it fired for this run \
                 at {} (execution {})",
                condition.cooldown_seconds, firing.created_at, firing.id
            );
            return (Some(Verdict::Cooldown), reason);
        }
        let reason = format!("its condition ({}) did not hold", condition.describe());
        return (Some(Verdict::Condition), reason);
    }
    let reason = match received_ms(&automation.updated_at) > subject.received_ms {
        true => "as it is now it would fire: it changed after the event",
        false => {
            "it passes every check now, yet did not match when the event arrived (a host whose \
                  copy of it was not yet current took the event)"
        }
    };
    (None, reason.to_string())
}

/// Why an event fired what it fired: the answer of `GET /v1/events/{id}/explanation`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Explanation {
    /// The event.
    pub event_id: crate::ids::EventId,
    /// Its type.
    pub event_type: crate::model::event::EventType,
    /// When the host received it.
    pub received_at: String,
    /// Every automation listening for its type, and each one it fired (even if since deleted):
    /// those that fired first, then by name.
    pub considered: Vec<Considered>,
    /// The entity's automations listening for other event types (not listed).
    pub other_event_types: usize,
}

/// Explains event `id` of `entity_id` against the automations `index` holds now.
pub async fn explain_event(
    store: &crate::store::Store,
    index: &super::index::AutomationIndex,
    entity_id: i64,
    id: &crate::ids::EventId,
) -> Result<Explanation, crate::store::StoreError> {
    use crate::store::{ExecutionQuery, StoreError};
    let (mut stored, executions) = store.event(entity_id, id).await?;
    let received_at = match stored.as_object_mut().and_then(|o| o.remove("received_at")) {
        Some(Value::String(at)) => at,
        _ => String::new(),
    };
    let event: Event =
        serde_json::from_value(stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let document = serde_json::to_value(&event.input).expect("an event serialises");
    let subject = Subject {
        event: &event,
        document: &document,
        received_ms: received_ms(&received_at),
    };
    let created: Vec<Created> = executions
        .into_iter()
        .map(|e| Created {
            name: e.automation["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            id: e.id,
            automation_id: e.automation_id,
            status: e.status,
            status_reason: e.status_reason,
        })
        .collect();
    let automations = index.of_entity(entity_id);
    let kinds = TriggerKind::for_event(event.input.event_type);
    // A metric automation that matched but did not fire may be in its cooldown: look for its
    // last firing for the same run inside it (rare reads, made only for this question).
    let mut earlier = std::collections::HashMap::new();
    if let Some(run_id) = &event.input.run_id {
        for compiled in &automations {
            let Some(condition) = &compiled.metric else {
                continue;
            };
            if !kinds.contains(&compiled.automation.event.kind)
                || created
                    .iter()
                    .any(|c| c.automation_id == compiled.automation.id)
            {
                continue;
            }
            let cooldown_ms =
                i64::try_from(condition.cooldown_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
            let since = subject.received_ms.saturating_sub(cooldown_ms).max(0);
            let query = ExecutionQuery {
                automation: Some(compiled.automation.id.clone()),
                since: Some(rfc3339_of_millis(since)),
                until: Some(received_at.clone()),
                limit: 50,
                ..ExecutionQuery::default()
            };
            for execution in store.executions(entity_id, query).await? {
                let (other, _) = store.event(entity_id, &execution.event_id).await?;
                if other["run_id"].as_str() == Some(run_id.as_str())
                    && other["project"] == document["project"]
                {
                    let firing = EarlierFiring {
                        id: execution.id,
                        created_at: execution.created_at,
                    };
                    earlier.insert(compiled.automation.id.clone(), firing);
                    break;
                }
            }
        }
    }
    let considered = explain(&subject, &automations, &created, |compiled| {
        earlier.get(&compiled.automation.id).cloned()
    });
    let other_event_types = automations
        .iter()
        .filter(|c| !kinds.contains(&c.automation.event.kind))
        .count();
    Ok(Explanation {
        event_id: event.id,
        event_type: event.input.event_type,
        received_at,
        considered,
        other_event_types,
    })
}
