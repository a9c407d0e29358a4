//! Operations: `GET /healthz` (liveness: the process answers), `GET /readyz` (readiness: the
//! store answers too) and `GET /metrics` (Prometheus text exposition).

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
        .routes(routes!(ready))
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

/// How long readiness waits for the store before it says the store is not answering.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: whether this host can take events now, its store answering a read within 2 s.
/// A load balancer routes to a host while this is 200; `/healthz` stays 200 while the process
/// runs, database or not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready: the store answers"),
        (status = 503, description = "Not ready: the store fails or does not answer (`store` says why)"),
    ),
)]
pub(super) async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let read = tokio::time::timeout(READY_WITHIN, state.store.queue_depth()).await;
    let failure = match read {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!("no answer within {READY_WITHIN:?}")),
    };
    match failure {
        None => Json(json!({"status": "ready", "store": "ok"})).into_response(),
        Some(why) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, crate::error::RETRY_UNAVAILABLE_AFTER)],
            Json(json!({"status": "unavailable", "store": why})),
        )
            .into_response(),
    }
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
        state.metrics.render(depth, state.store.pool_status()),
    )
}
