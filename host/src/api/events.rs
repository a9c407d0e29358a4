//! Events: `POST /v1/events`, `POST /v1/events/batch`, `GET /v1/events/{id}`. An event and the
//! executions it triggers are durable before `202`; `Idempotency-Key` makes a retried post return
//! the same event id and create nothing new.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::JsonBody;
use super::{AppState, shown, store_error};
use crate::automations::Automation;
use crate::error::{ApiError, ErrorBody};
use crate::events::template::Resolved;
use crate::events::{Event, EventInput, Variables};
use crate::store::{Claimed, EventToStore, IngestOutcome, NewExecution};

/// Events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// The largest request body of the event routes.
pub const MAX_EVENT_BODY: usize = 1 << 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", post(ingest_one))
        .route("/events/batch", post(ingest_batch))
        .route("/events/{id}", get(read))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_EVENT_BODY))
}

/// Parses and validates one posted event; `field` prefixes errors (e.g. `events[3].`).
fn parse_event(value: Value, prefix: &str, principal: &Principal) -> Result<Event, ApiError> {
    let input: EventInput =
        serde_json::from_value(value).map_err(|e| ApiError::Invalid(format!("{prefix}{e}")))?;
    input
        .validate()
        .map_err(|e| ApiError::Invalid(format!("{prefix}{e}")))?;
    principal.own_entity(&input.entity)?;
    Ok(Event::new(input))
}

/// An event ready to store: its executions, and the automation behind each (for hand-over).
struct Prepared {
    item: EventToStore,
    automations: Vec<Arc<Automation>>,
}

/// Matches an event and builds its executions: the automation snapshot and the rendered payload
/// (secrets as placeholders, filled in at send time).
fn prepare(
    state: &AppState,
    entity_id: i64,
    event: Event,
    idempotency_key: Option<String>,
) -> Prepared {
    let now = std::time::Instant::now();
    let document = serde_json::to_value(&event.input).expect("an event serialises");
    let matched = state.index.matching(entity_id, &event.input, &document);
    let mut executions = Vec::with_capacity(matched.len());
    let mut automations = Vec::with_capacity(matched.len());
    for compiled in matched {
        let automation = &compiled.automation;
        let id = uuid::Uuid::now_v7().to_string();
        let rendered = compiled.template.as_ref().map(|template| {
            let variables = Variables::of(&event, &automation.name, None);
            let tag = state.master_key.refs().tag(&id);
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
            .filter(|limit| !state.rate_limiter.admit(&automation.id, *limit, now));
        let (status, status_reason) = match (over_limit, too_large) {
            (Some(limit), _) => (
                "skipped",
                Some(format!(
                    "rate limit: at most {} per {} s",
                    limit.max, limit.per_seconds
                )),
            ),
            (None, Some(error)) => ("failed", Some(format!("invalid: {error}"))),
            (None, None) => ("pending", None),
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
    state: &AppState,
    entity_id: i64,
    prepared: Vec<Prepared>,
) -> Result<Vec<IngestOutcome>, ApiError> {
    let is_pending = |e: &NewExecution| e.status == "pending";
    let pending: usize = prepared
        .iter()
        .map(|p| p.item.executions.iter().filter(|e| is_pending(e)).count())
        .sum();
    let mut lease = state.delivery.lease(pending);
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
    let outcomes = state
        .store
        .ingest(entity_id, items, leased_to)
        .await
        .map_err(store_error)?;
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
            state.metrics.execution_created(&plugin, status);
        }
    }
    let new: Vec<_> = outcomes.iter().filter(|o| !o.duplicate).collect();
    state.metrics.events_ingested(new.len() as u64);
    if pending > handed && new.iter().any(|o| o.matched > 0) {
        state.delivery.wake();
    }
    Ok(outcomes)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::Invalid("Idempotency-Key must be text".into()))?;
            if key.is_empty() || key.len() > 255 {
                return Err(ApiError::Invalid(
                    "Idempotency-Key must be 1 to 255 characters".into(),
                ));
            }
            Ok(Some(key.to_string()))
        }
    }
}

#[utoipa::path(post, path = "/v1/events", tag = "events", security(("api_key" = [])), request_body = EventInput, params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried post return the same event id")), responses((status = 202, body = IngestOutcome), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn ingest_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let event = parse_event(body, "", &principal)?;
    let prepared = prepare(&state, principal.entity.id, event, key);
    let outcomes = store_events(&state, principal.entity.id, vec![prepared]).await?;
    let outcome = &outcomes[0];
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"event_id": outcome.event_id, "matched": outcome.matched, "duplicate": outcome.duplicate}),
        ),
    ))
}

/// The body of `POST /v1/events/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Up to 1,000 events.
    #[schema(value_type = Vec<EventInput>)]
    pub events: Vec<Value>,
}

#[utoipa::path(post, path = "/v1/events/batch", tag = "events", security(("api_key" = [])), request_body = Batch, params(("Idempotency-Key" = Option<String>, Header, description = "Covers the whole batch")), responses((status = 202, body = [IngestOutcome]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn ingest_batch(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if batch.events.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::TooLarge(format!(
            "a batch holds at most {MAX_BATCH_EVENTS} events, not {}",
            batch.events.len()
        )));
    }
    if batch.events.is_empty() {
        return Err(ApiError::Invalid("events: the batch is empty".into()));
    }
    let key = idempotency_key(&headers)?;
    let mut events = Vec::with_capacity(batch.events.len());
    for (index, value) in batch.events.into_iter().enumerate() {
        events.push(parse_event(
            value,
            &format!("events[{index}]."),
            &principal,
        )?);
    }
    // Matched only once every event parsed: a bad batch must not use up rate limits.
    let prepared = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            // One key covers the batch; each event gets its own derived key.
            let idempotency_key = key.as_ref().map(|k| format!("{k}#{index}"));
            prepare(&state, principal.entity.id, event, idempotency_key)
        })
        .collect();
    let outcomes = store_events(&state, principal.entity.id, prepared).await?;
    let matched: usize = outcomes.iter().map(|o| o.matched).sum();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"events": outcomes, "matched": matched})),
    ))
}

#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 200, description = "The event and the executions it triggered"), (status = 404, body = ErrorBody)))]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (event, executions) = state
        .store
        .event(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    let executions: Vec<_> = executions.into_iter().map(|e| shown(&state, e)).collect();
    Ok(Json(json!({"event": event, "executions": executions})))
}
