//! Operations: `GET /healthz` (liveness) and `GET /metrics` (Prometheus text exposition).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The server is up")),
)]
pub(super) async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)")),
)]
pub(super) async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    if !state.metrics_on_api {
        return crate::error::ApiError::NotFound(
            "/metrics is served on the metrics_listen address".into(),
        )
        .into_response();
    }
    exposition(State(state)).await.into_response()
}

/// The exposition itself, wherever it is served.
pub(super) async fn exposition(State(state): State<AppState>) -> impl IntoResponse {
    let depth = state.store.queue_depth().await.unwrap_or(-1);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(depth),
    )
}
