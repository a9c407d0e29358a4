//! `GET /v1/plugins`: the installed action plugins with their versions and config schemas.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use crate::error::ErrorBody;
use crate::plugins::plugin_json;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/plugins", get(list))
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", security(("api_key" = [])), responses((status = 200, description = "Installed action plugins with versions and config schemas"), (status = 401, body = ErrorBody)))]
pub(super) async fn list(State(state): State<AppState>, _principal: Principal) -> Json<Value> {
    let plugins: Vec<Value> = state.plugins.iter().map(|p| plugin_json(p)).collect();
    Json(json!({ "plugins": plugins }))
}
