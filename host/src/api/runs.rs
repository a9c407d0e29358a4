//! Runs reported from training code: `POST …/runs/{run_id}/heartbeat`, which keeps a quiet run
//! (one logging nothing for a while) from being reported crashed.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Principal;
use crate::error::{ApiError, ErrorBody};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(heartbeat))
}

/// What a heartbeat answers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunHeartbeatOut {
    /// `running`, or `ended` once the run posted `FINISHED` or `FAILED` (or was reported
    /// crashed): a heartbeat does not bring it back; post `RUN_STATE RUNNING` to resume it.
    pub state: String,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/projects/{project}/runs/{run_id}/heartbeat",
    tag = "events",
    params(
        ("entity" = String, Path),
        ("project" = String, Path, pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$"),
        ("run_id" = String, Path, pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$"),
    ),
    responses(
        (status = 200, body = RunHeartbeatOut, description = "The run counts as alive from now"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn heartbeat(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, project, run_id)): Path<(String, String, String)>,
) -> Result<Json<RunHeartbeatOut>, ApiError> {
    let entity = &principal.entity;
    crate::events::event::check_name("project", &project)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    crate::events::event::check_name("run_id", &run_id)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let running = state
        .store
        .run_heartbeat(entity.id, &project, &run_id)
        .await?;
    Ok(Json(RunHeartbeatOut {
        state: if running { "running" } else { "ended" }.into(),
    }))
}
