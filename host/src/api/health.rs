//! `GET /healthz`: liveness for load balancers and the test harness.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The server is up")))]
pub(super) async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}
