//! Executions: `GET /v1/executions/{id}` (with every attempt).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::Principal;
use super::{AppState, store_error};
use crate::error::{ApiError, ErrorBody};
use crate::store::ExecutionRecord;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/executions/{id}", get(read))
}

#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 200, body = ExecutionRecord), (status = 404, body = ErrorBody)))]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ExecutionRecord>, ApiError> {
    Ok(Json(
        state
            .store
            .execution(principal.entity.id, &id)
            .await
            .map_err(store_error)?,
    ))
}
