//! Executions: `GET /v1/executions` (the entity's history, filtered by automation, status and
//! time), `GET /v1/executions/{id}` (with every attempt) and `POST /v1/executions/{id}/retry`
//! (run a finished execution again).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::{AppState, shown, store_error};
use crate::app::audit::Change;
use crate::delivery::status::ExecutionStatus;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{AutomationId, EventId, ExecutionId};
use crate::model::audit::AuditAction;
use crate::store::{ExecutionQuery, ExecutionRecord};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(retry))
}

/// Declares a query of an execution history: the fields given, then the filter every history
/// read takes (status, creation time, count), whose parameters and docs live here once.
macro_rules! history_query {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            /// Only these statuses, comma-separated (`failed,retrying`).
            #[param(
                pattern = r"^\s*$|^\s*(pending|running|retrying|held|succeeded|failed|skipped)\s*(,\s*(pending|running|retrying|held|succeeded|failed|skipped)\s*)*$"
            )]
            pub status: Option<String>,
            /// Created at or after this instant (RFC 3339, any offset).
            #[param(format = DateTime)]
            pub since: Option<String>,
            /// Created before this instant (RFC 3339, any offset).
            #[param(format = DateTime)]
            pub until: Option<String>,
            /// At most this many, newest first (default 100; more than 1000 reads 1000).
            #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
            pub limit: Option<u32>,
            /// The page after the one that answered this `next_cursor` (same filter).
            #[param(pattern = r"^[0-9]{1,13}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
            pub cursor: Option<String>,
        }
    };
}

history_query! {
    /// How an automation's own history is narrowed (it names the automation in its path).
    HistoryFilter {}
}

history_query! {
    /// `GET /v1/executions`: the history filter, and the one automation to narrow to.
    HistoryQuery {
        /// Only this automation's executions.
        automation: Option<AutomationId>,
    }
}

impl HistoryQuery {
    /// The automation, and the rest of the query as a filter.
    fn split(self) -> (Option<AutomationId>, HistoryFilter) {
        let filter = HistoryFilter {
            status: self.status,
            since: self.since,
            until: self.until,
            limit: self.limit,
            cursor: self.cursor,
        };
        (self.automation, filter)
    }
}

impl HistoryFilter {
    /// The store query for `automation`'s executions (every automation's for `None`), or 400
    /// naming the parameter that does not parse.
    pub(super) fn parse(
        self,
        automation: Option<AutomationId>,
    ) -> Result<ExecutionQuery, ApiError> {
        let statuses = match self.status.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|name| {
                    ExecutionStatus::parse(name.trim()).ok_or_else(|| {
                        let known: Vec<&str> =
                            ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
                        ApiError::Invalid(format!(
                            "status: no status {:?} (one of {})",
                            name.trim(),
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(ExecutionQuery {
            automation,
            statuses,
            since: self
                .since
                .as_deref()
                .map(|t| instant("since", t))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| instant("until", t))
                .transpose()?,
            limit: super::paging::limit(self.limit, 100),
            after: self.cursor.as_deref().map(cursor_position).transpose()?,
        })
    }
}

/// The cursor of a page that ends with `last`: its creation time (Unix ms) and id, so that any
/// well-formed cursor names a place in the history.
fn cursor_of(last: &ExecutionRecord) -> String {
    let ms = crate::model::instant::parse(&last.created_at)
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or_default();
    format!("{ms}.{}", last.id)
}

/// Where a cursor says the previous page ended, or 400 for one that is not a cursor.
fn cursor_position(cursor: &str) -> Result<(String, String), ApiError> {
    let refused = super::paging::not_a_cursor;
    let (ms, id) = cursor.split_once('.').ok_or_else(refused)?;
    let well_formed = ms.len() <= 13
        && !ms.is_empty()
        && ms.bytes().all(|b| b.is_ascii_digit())
        && uuid::Uuid::try_parse(id).is_ok_and(|u| u.hyphenated().to_string() == id);
    if !well_formed {
        return Err(refused());
    }
    let ms: i64 = ms.parse().map_err(|_| refused())?;
    Ok((crate::store::rfc3339_of_millis(ms), id.to_string()))
}

impl ExecutionsOut {
    /// A page of `limit` at most from `records` (read with one more than `limit`, so that
    /// whether more exist is known), with the cursor of the next one.
    pub(super) fn page(state: &AppState, records: Vec<ExecutionRecord>, limit: usize) -> Self {
        let (records, has_more, next_cursor) = super::paging::page(records, limit, cursor_of);
        Self {
            executions: records.into_iter().map(|e| shown(state, e)).collect(),
            has_more,
            next_cursor,
        }
    }
}

/// An optional time parameter ([`instant`]).
pub(super) fn instant_param(field: &str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    text.map(|t| instant(field, t)).transpose()
}

/// An RFC 3339 date-time (any offset), in the form times are stored with (UTC, milliseconds),
/// so that the store compares like with like.
fn instant(field: &str, text: &str) -> Result<String, ApiError> {
    crate::model::instant::utc_millis(text).map_err(|_| {
        ApiError::Invalid(format!(
            "{field}: {text:?} is not an RFC 3339 date-time (e.g. 2026-11-30T09:00:00Z)"
        ))
    })
}

/// The entity's executions, newest first, narrowed by automation, status and creation time.
#[utoipa::path(
    get,
    path = "/v1/executions",
    tag = "executions",
    params(HistoryQuery),
    responses(
        (status = 200, body = ExecutionsOut),
        (status = 400, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<ExecutionsOut>, ApiError> {
    let (automation, filter) = query.split();
    let mut query = filter.parse(automation)?;
    let limit = query.limit;
    query.limit += 1;
    let executions = state.store.executions(principal.entity.id, query).await?;
    Ok(Json(ExecutionsOut::page(&state, executions, limit)))
}

#[utoipa::path(
    get,
    path = "/v1/executions/{id}",
    tag = "executions",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ExecutionOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<ExecutionId>,
) -> Result<Json<ExecutionOut>, ApiError> {
    let record = state
        .store
        .execution(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    Ok(Json(shown(&state, record)))
}

#[utoipa::path(
    post,
    path = "/v1/executions/{id}/retry",
    tag = "executions",
    params(("id" = String, Path)),
    responses(
        (status = 202, body = ExecutionOut, description = "Queued again"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Still in progress"),
    ),
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<ExecutionId>,
) -> Result<(StatusCode, Json<ExecutionOut>), ApiError> {
    state
        .store
        .retry_execution(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    state.delivery.wake();
    let record = state
        .store
        .execution(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    let after = serde_json::json!({"automation_id": record.automation_id, "status": record.status});
    let change = Change::new(AuditAction::ExecutionRetried, id.as_str()).after(&after);
    state.audit(&principal, change).await;
    Ok((StatusCode::ACCEPTED, Json(shown(&state, record))))
}

/// `GET /v1/automations/{id}/executions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionsOut {
    /// Newest first.
    pub executions: Vec<ExecutionOut>,
    /// Whether more executions match than this page holds.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` (with the same filter) for the next page.
    pub next_cursor: Option<String>,
}

/// An execution: one triggering of one automation by one event, with its attempts when read
/// alone.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionOut {
    /// Its id (also the `webhook-id` receivers deduplicate on).
    pub id: ExecutionId,
    /// The event that triggered it.
    pub event_id: EventId,
    /// The automation (it may since have changed or gone; `automation` is the snapshot).
    pub automation_id: AutomationId,
    /// Where it stands.
    pub status: crate::delivery::status::ExecutionStatus,
    /// Why it has that status (the failure, or why it was skipped).
    pub status_reason: Option<String>,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// The automation as it was when the event arrived.
    #[schema(value_type = Object)]
    pub automation: Value,
    /// The rendered payload, secrets shown as `${NAME}`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Every attempt, oldest first (only in single-execution reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub attempt_log: Vec<Value>,
    /// For a metric automation: the metric, the value compared, the window and the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<crate::events::MetricContext>,
}

impl ExecutionOut {
    /// The execution as shown: its payload's secret placeholders written as `${NAME}`.
    pub(crate) fn shown(record: ExecutionRecord, refs: &crate::secrets::refs::RefKey) -> Self {
        let mut payload = record.payload;
        if let Some(payload) = &mut payload {
            refs.tag(record.id.as_str()).show(payload);
        }
        Self {
            id: record.id,
            event_id: record.event_id,
            automation_id: record.automation_id,
            status: record.status,
            status_reason: record.status_reason,
            attempts: record.attempts,
            created_at: record.created_at,
            updated_at: record.updated_at,
            automation: record.automation,
            payload,
            attempt_log: record.attempt_log,
            metric: record.metric,
        }
    }
}
