//! The HTTP API (axum): one file per resource, mounted under `/v1`, every error the one JSON body
//! of [`ApiError`].

mod agents;
mod audit;
pub mod auth;
mod automations;
pub(crate) mod compression;
pub(crate) mod entities;
mod events;
pub(crate) mod executions;
mod health;
mod integration_send;
mod integration_state;
mod integrations;
mod jobs;
pub mod json;
mod launch;
mod links;
pub mod openapi;
mod paging;
mod places;
mod tasks;

mod plugins;
mod runs;
mod secrets;
mod shapes;
mod triggers;

use axum::Router;

pub(crate) use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{ExecutionRecord, StoreError};

/// The API's routes under `/v1`, each registered once with its documentation, and the OpenAPI
/// document generated from them. The composition root (`server.rs`) mounts them beside the
/// console's.
pub(crate) fn routes() -> Router<AppState> {
    // Each route is registered here once, with its documentation (its path is in its annotation).
    let documented = openapi::documented()
        .merge(health::routes())
        .merge(plugins::routes())
        .merge(entities::routes())
        .merge(secrets::routes())
        .merge(integrations::routes())
        .merge(integration_state::routes())
        .merge(integration_send::routes())
        .merge(tasks::routes())
        .merge(automations::routes())
        .merge(triggers::routes())
        .merge(places::routes())
        .merge(events::routes())
        .merge(executions::routes())
        .merge(runs::routes())
        .merge(jobs::routes())
        .merge(launch::routes())
        .merge(agents::routes())
        .merge(audit::routes());
    openapi::serve(documented)
}

/// Every answer the server gives outside the routes: 404 in the API's error body.
pub(crate) async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// `GET /metrics` alone, for the `metrics_listen` address.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(health::exposition))
        .with_state(state)
}

/// Gives every error answer the API's JSON error body: axum's own rejections (a query string
/// that does not parse, a path segment of the wrong type, a method the route does not take) come
/// as plain text or empty otherwise. Answers that already are JSON pass through untouched.
pub(crate) async fn error_bodies(response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    use axum::response::IntoResponse as _;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let (code, fallback) = match status.as_u16() {
        404 => ("not_found", "no such route"),
        405 => ("method_not_allowed", "this route does not take that method"),
        413 => ("too_large", "the request body is too large"),
        415 => ("invalid", "expected Content-Type: application/json"),
        500..=599 => ("internal", "internal error (see the server log)"),
        _ => ("invalid", "the request is not valid"),
    };
    let message = if text.is_empty() || status.is_server_error() {
        fallback.to_string()
    } else {
        text
    };
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail::new(code, message),
    };
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// An execution as the API shows it: its payload's secret placeholders written as `${NAME}`.
pub(crate) fn shown(state: &AppState, record: ExecutionRecord) -> executions::ExecutionOut {
    executions::ExecutionOut::shown(record, state.master_key.refs())
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        store_error(error)
    }
}

/// Maps a store error to the API's: not found → 404, conflict → 409, unavailable → 503, the rest
/// → 500.
pub(crate) fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
        StoreError::Conflict(message) => ApiError::Conflict(message),
        other if other.outcome_unknown() => {
            tracing::debug!(error = %other, "a request failed: the database connection was lost");
            ApiError::Unavailable(format!(
                "the database connection was lost while the request ran: its outcome is unknown (a write may have been committed); retry it with the same Idempotency-Key, which makes a repeated event or task count once ({other})"
            ))
        }
        other if other.is_unavailable() => {
            tracing::debug!(error = %other, "a request failed: storage is unavailable");
            ApiError::Unavailable(format!(
                "storage is unavailable (a full or read-only disk, or a database that cannot be reached); nothing was stored, retry later ({other})"
            ))
        }
        other => ApiError::Internal(other.into()),
    }
}

/// Runs `work` to its end even when the client's connection closes first. The server drops a
/// handler whose client went away; handlers that make two changes which belong together (a queue
/// item's new state and its run's `RUN_STATE` event, a saved automation and the index that
/// matches events against it, an installed plugin and the automations compiled against it) run
/// them through this, so a hang-up between the two cannot leave the
/// first without the second.
async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, crate::error::ApiError>> + Send + 'static,
) -> Result<T, crate::error::ApiError> {
    tokio::spawn(work).await.map_err(|error| {
        crate::error::ApiError::Internal(anyhow::anyhow!("request's work: {error}"))
    })?
}
