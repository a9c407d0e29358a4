//! `GET /v1/plugins`: the installed action plugins with their versions and config schemas.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Principal;
use super::out::PluginsOut;
use crate::error::ErrorBody;
use crate::plugins::PluginOut;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
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
