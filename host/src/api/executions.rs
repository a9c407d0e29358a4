//! Executions: `GET /v1/executions` (the entity's history, filtered by automation, status and
//! time), `GET /v1/executions/{id}` (with every attempt) and `POST /v1/executions/{id}/retry`
//! (run a finished execution again).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::out::{ExecutionOut, ExecutionsOut};
use super::{AppState, shown, store_error};
use crate::delivery::status::ExecutionStatus;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{AutomationId, ExecutionId};
use crate::store::ExecutionQuery;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(retry))
}

/// Query parameters of the execution history reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Only this automation's executions (`GET /v1/executions` only).
    pub automation: Option<AutomationId>,
    /// Only these statuses, comma-separated (`failed,retrying`).
    pub status: Option<String>,
    /// Created at or after this instant (RFC 3339).
    pub since: Option<String>,
    /// Created before this instant (RFC 3339).
    pub until: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl HistoryQuery {
    /// The store query, or 400 naming the parameter that does not parse.
    pub(super) fn parse(self) -> Result<ExecutionQuery, ApiError> {
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
            automation: self.automation,
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
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// An RFC 3339 instant in UTC (`Z`), in the form executions are stored with (milliseconds), so
/// that the store compares like with like.
fn instant(field: &str, text: &str) -> Result<String, ApiError> {
    humantime::parse_rfc3339_weak(text.trim())
        .map(|t| humantime::format_rfc3339_millis(t).to_string())
        .map_err(|_| {
            ApiError::Invalid(format!(
                "{field}: {text:?} is not an RFC 3339 instant in UTC (e.g. 2026-11-30T09:00:00Z)"
            ))
        })
}

/// The entity's executions, newest first, narrowed by automation, status and creation time.
#[utoipa::path(get, path = "/v1/executions", tag = "executions", security(("api_key" = [])), params(HistoryQuery), responses((status = 200, body = ExecutionsOut), (status = 400, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<ExecutionsOut>, ApiError> {
    let executions = state
        .store
        .executions(principal.entity.id, query.parse()?)
        .await
        .map_err(store_error)?;
    let executions = executions.into_iter().map(|e| shown(&state, e)).collect();
    Ok(Json(ExecutionsOut { executions }))
}

#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 200, body = ExecutionOut), (status = 404, body = ErrorBody)))]
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

#[utoipa::path(post, path = "/v1/executions/{id}/retry", tag = "executions", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 202, body = ExecutionOut, description = "Queued again"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Still in progress")))]
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
    Ok((StatusCode::ACCEPTED, Json(shown(&state, record))))
}
