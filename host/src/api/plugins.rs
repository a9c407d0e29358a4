//! `GET /v1/plugins`: the installed action plugins with their versions and config schemas.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::auth::Principal;
use super::out::PluginsOut;
use crate::error::ErrorBody;
use crate::plugins::PluginOut;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/plugins", get(list))
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", security(("api_key" = [])), responses((status = 200, body = PluginsOut, description = "Installed action plugins with versions and config schemas"), (status = 401, body = ErrorBody)))]
pub(super) async fn list(State(state): State<AppState>, _principal: Principal) -> Json<PluginsOut> {
    let plugins = state
        .plugins
        .iter()
        .map(|p| PluginOut::from(&**p))
        .collect();
    Json(PluginsOut { plugins })
}
