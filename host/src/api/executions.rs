//! Executions: `GET /v1/executions/{id}` (with every attempt) and
//! `POST /v1/executions/{id}/retry` (run a finished execution again).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::out::ExecutionOut;
use super::{AppState, shown, store_error};
use crate::error::{ApiError, ErrorBody};
use crate::ids::ExecutionId;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(retry))
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
