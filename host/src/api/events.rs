//! Events: `POST /v1/events`, `POST /v1/events/batch`, `GET /v1/events/{id}`, `GET
//! /v1/events/{id}/explanation` (why it fired what it fired, and why not the rest) and `GET
//! /v1/events` (the entity's events, newest first, a page at a time). An event and the
//! executions it triggers are durable before `202`; `Idempotency-Key` makes a retried post return
//! the same event id and create nothing new.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::compression::Plain;
use super::executions::{ExecutionOut, instant_param};
use super::json::JsonBody;
use super::{AppState, shown, store_error};
use crate::automations::explain::{Explanation, explain_event};
use crate::error::{ApiError, ErrorBody};
use crate::events::{Event, EventInput};
use crate::ids::EventId;
use crate::model::event::EventType;
use crate::store::{EventQuery, IngestOutcome};

/// Events one batch may carry.
pub(super) const MAX_BATCH_EVENTS: usize = 1000;
/// The largest request body of the event routes.
pub(super) const MAX_EVENT_BODY: usize = 1 << 20;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, ingest_one))
        .routes(routes!(ingest_batch))
        .routes(routes!(read))
        .routes(routes!(explanation))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_EVENT_BODY))
}

/// Parses and validates one posted event; `field` prefixes errors (e.g. `events[3].`).
fn parse_event(value: Value, prefix: &str, principal: &Principal) -> Result<Event, ApiError> {
    let input: EventInput =
        serde_json::from_value(value).map_err(|e| ApiError::Invalid(format!("{prefix}{e}")))?;
    if input.event_type.is_operational() {
        return Err(ApiError::Invalid(format!(
            "{prefix}type: {} events are raised by Herald itself; clients cannot post them",
            input.event_type.as_str()
        )));
    }
    input
        .validate()
        .map_err(|e| ApiError::Invalid(format!("{prefix}{e}")))?;
    principal.own_entity_named(&format!("{prefix}entity"), &input.entity)?;
    if let Some((project, run_id)) = &principal.run
        && (input.project.as_deref() != Some(project.as_str())
            || input.run_id.as_deref() != Some(run_id.as_str()))
    {
        return Err(ApiError::Forbidden(format!(
            "{prefix}a run token may only post events for its own run ({project}/{run_id})"
        )));
    }
    let event = Event::new(input);
    Ok(match principal.run {
        Some(_) => event.of_launched_run(),
        None => event,
    })
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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

/// The key stored for event `index` of a batch posted with key `key`. It holds a line break,
/// which no header value can, so no single post's key (e.g. `K#0`) ever stands for a batch's
/// event, nor the other way round.
fn batch_event_key(key: &str, index: usize) -> String {
    format!("batch\n{key}\n{index}")
}

#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body = EventInput,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[\u0020-\u007E]{1,255}$", description = "Makes a retried post return the same event id")),
    responses(
        (status = 202, body = IngestOut),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "An event of another entity (to the operator's admins: a key acts in its own entity only), or of another run (to a run token)"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "An entity the key cannot see (`missing`)"),
        (status = 503, body = ErrorBody, description = "The delivery backlog is past its bound (`busy`, `Retry-After: 1`), or storage is unavailable (`unavailable`)"),
    ),
)]
pub(super) async fn ingest_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Extension<Plain>, Json<IngestOut>), ApiError> {
    let key = idempotency_key(&headers)?;
    let event = parse_event(body, "", &principal)?;
    state.admit_events().await?;
    let outcomes = state
        .ingest()
        .events(principal.entity.id, vec![(event, key)])
        .await?;
    let outcome = outcomes.into_iter().next().expect("one outcome per event");
    Ok((StatusCode::ACCEPTED, Extension(Plain), Json(outcome.into())))
}

/// The body of `POST /v1/events/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    /// 1 to 1,000 events.
    #[schema(value_type = Vec<EventInput>, min_items = 1, max_items = 1000)]
    pub events: Vec<Value>,
}

/// A [`Batch`] as read from the body: a bare array (the likeliest mistake) is refused with a
/// message that says what the body should be, rather than serde's reading of an array as the
/// struct's fields in order. Read straight from the body, with no intermediate document.
pub(super) struct BatchBody(Batch);

impl<'de> Deserialize<'de> for BatchBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = BatchBody;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object {\"events\": [...]}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<BatchBody, A::Error> {
                Batch::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(BatchBody)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<BatchBody, A::Error> {
                Err(serde::de::Error::custom(
                    "the body is a JSON array: a batch is an object that holds it, {\"events\": [...]}",
                ))
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

impl Batch {
    /// The batch's events, each parsed and checked (the first bad one refuses the whole batch,
    /// so that a bad batch uses up no rate limit) and given its own key, derived from the one
    /// that covers the batch.
    fn parse(
        self,
        principal: &Principal,
        key: Option<&str>,
    ) -> Result<Vec<(Event, Option<String>)>, ApiError> {
        let count = self.events.len();
        if count > MAX_BATCH_EVENTS {
            return Err(ApiError::Invalid(format!(
                "events: a batch holds at most {MAX_BATCH_EVENTS} events, not {count}"
            )));
        }
        if count == 0 {
            return Err(ApiError::Invalid("events: the batch is empty".into()));
        }
        let parse = |(index, value)| {
            let event = parse_event(value, &format!("events[{index}]."), principal)?;
            Ok((event, key.map(|k| batch_event_key(k, index))))
        };
        self.events.into_iter().enumerate().map(parse).collect()
    }
}

#[utoipa::path(
    post,
    path = "/v1/events/batch",
    tag = "events",
    request_body = Batch,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[\u0020-\u007E]{1,255}$", description = "Covers the whole batch")),
    responses(
        (status = 202, body = BatchOut),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "An event of another entity (to the operator's admins: a key acts in its own entity only), or of another run (to a run token)"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "An entity the key cannot see (`missing`)"),
        (status = 503, body = ErrorBody, description = "The delivery backlog is past its bound (`busy`, `Retry-After: 1`), or storage is unavailable (`unavailable`)"),
    ),
)]
pub(super) async fn ingest_batch(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(BatchBody(batch)): JsonBody<BatchBody>,
) -> Result<(StatusCode, Extension<Plain>, Json<BatchOut>), ApiError> {
    let key = idempotency_key(&headers)?;
    let events = batch.parse(&principal, key.as_deref())?;
    state.admit_events().await?;
    let outcomes = state.ingest().events(principal.entity.id, events).await?;
    let matched: usize = outcomes.iter().map(|o| o.matched).sum();
    Ok((
        StatusCode::ACCEPTED,
        Extension(Plain),
        Json(BatchOut {
            events: outcomes.into_iter().map(Into::into).collect(),
            matched,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = EventOut, description = "The event and the executions it triggered"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<EventId>,
) -> Result<Json<EventOut>, ApiError> {
    let (event, executions) = state
        .store
        .event(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    let executions = executions.into_iter().map(|e| shown(&state, e)).collect();
    Ok(Json(EventOut { event, executions }))
}

#[utoipa::path(
    get,
    path = "/v1/events/{id}/explanation",
    tag = "events",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Explanation, description = "Each automation listening for the event's type, whether it fired and why (not)"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn explanation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<EventId>,
) -> Result<Json<Explanation>, ApiError> {
    let explained = explain_event(&state.store, &state.index, principal.entity.id, &id).await?;
    Ok(Json(explained))
}

/// `POST /v1/events/batch`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchOut {
    /// One outcome per event, in order.
    pub events: Vec<IngestOut>,
    /// Executions created in all.
    pub matched: usize,
}

/// `GET /v1/events/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    /// The event as posted, with `received_at`.
    #[schema(value_type = Object)]
    pub event: Value,
    /// The executions it triggered.
    pub executions: Vec<ExecutionOut>,
}

/// What storing an event did (`POST /v1/events`, and each event of a batch).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestOut {
    /// The event's id (the first one's, for a repeated idempotency key).
    pub event_id: EventId,
    /// How many automations it triggered.
    pub matched: usize,
    /// True when the idempotency key had been seen: nothing new was created.
    pub duplicate: bool,
}

impl From<IngestOutcome> for IngestOut {
    fn from(outcome: IngestOutcome) -> Self {
        Self {
            event_id: outcome.event_id,
            matched: outcome.matched,
            duplicate: outcome.duplicate,
        }
    }
}

/// Which events `GET /v1/events` lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventListQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<EventType>,
    /// Received at or after this instant (RFC 3339, any offset; to the millisecond).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Received before this instant (RFC 3339, any offset).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// At most this many, newest first (default 100; more than 1000 reads 1000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The page after the one that answered this `next_cursor` (same filter).
    #[param(pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
}

/// An event in a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventSummaryOut {
    /// Its id.
    pub id: EventId,
    /// The event as posted, with `received_at`.
    #[schema(value_type = Object)]
    pub event: Value,
    /// How many automations it triggered.
    pub matched: i64,
}

/// `GET /v1/events`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventsOut {
    /// Newest first.
    pub events: Vec<EventSummaryOut>,
    /// Whether more match than this page holds.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` (with the same filter) for the next page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventListQuery),
    responses(
        (status = 200, body = EventsOut, description = "The entity's events, newest first"),
        (status = 400, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<EventListQuery>,
) -> Result<Json<EventsOut>, ApiError> {
    let limit = super::paging::limit(query.limit, 100);
    let store_query = EventQuery {
        event_type: query.event_type.map(|t| t.as_str().to_string()),
        since: instant_param("since", query.since.as_deref())?,
        until: instant_param("until", query.until.as_deref())?,
        below_id: query
            .cursor
            .as_deref()
            .map(super::paging::uuid_cursor)
            .transpose()?,
        limit: limit + 1,
    };
    let events = state
        .store
        .events_page(principal.entity.id, store_query)
        .await?;
    let (events, has_more, next_cursor) =
        super::paging::page(events, limit, |last| last.id.to_string());
    Ok(Json(EventsOut {
        events: events
            .into_iter()
            .map(|e| EventSummaryOut {
                id: e.id,
                event: e.event,
                matched: e.matched,
            })
            .collect(),
        has_more,
        next_cursor,
    }))
}
