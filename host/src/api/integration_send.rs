//! `POST /v1/entities/{entity}/integrations/{name}/test` (admins): sends a payload through the
//! integration like a real delivery, and answers the request as sent (secrets redacted) and the
//! receiver's answer.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Admin;
use super::json::JsonBody;
use crate::delivery::integrations;
use crate::delivery::record::AttemptRecord;
use crate::error::{ApiError, ErrorBody};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(test))
}

/// The body of `POST …/integrations/{name}/test`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TestRequest {
    /// The payload to send, as a template: `${SECRET}` references are resolved; event variables
    /// are empty (there is no event). Default: `{"test": true}`.
    #[serde(default = "default_test_payload")]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The plugin that sends it: any installed plugin that takes this integration's kind.
    /// Default: the built-in one for the kind (`webhook`, `slack`, `teams`, `github-dispatch`).
    #[serde(default)]
    pub plugin: Option<String>,
    /// The plugin's action config (checked like an automation's). Default `{}`.
    #[serde(default = "empty_config")]
    #[schema(value_type = Object)]
    pub config: Value,
}

fn empty_config() -> Value {
    json!({})
}

fn default_test_payload() -> Value {
    json!({"test": true})
}

/// `POST …/integrations/{name}/test`: the request as sent (secrets redacted) and the answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TestOut {
    /// Whether a response came back.
    pub sent: bool,
    /// The receiver's answer (status, headers, body), if one came.
    #[schema(value_type = Option<Object>)]
    pub response: Value,
    /// Why there was no answer, or why the plugin failed.
    #[schema(value_type = Option<Object>)]
    pub error: Value,
    /// The request as sent: method, URL, headers and body, secrets redacted.
    #[schema(value_type = Object)]
    pub request: Value,
    /// How long the exchange took.
    #[schema(value_type = Option<f64>)]
    pub duration_ms: Value,
}

impl TestOut {
    /// What the test's attempt record says of its first request: the request as sent, and the
    /// answer or why there was none.
    fn from_record(record: AttemptRecord) -> Result<Self, ApiError> {
        let record = serde_json::to_value(record).map_err(|e| ApiError::Internal(e.into()))?;
        let request = record["requests"].get(0).cloned().unwrap_or(Value::Null);
        Ok(Self {
            sent: !request["response"].is_null(),
            response: request["response"].clone(),
            error: match (&request["error"], request.is_null()) {
                (Value::Null, false) => Value::Null,
                (error, false) => error.clone(),
                (_, true) => json!({"class": record["error_class"], "message": record["message"]}),
            },
            request: json!({
                "method": request["method"],
                "url": request["url"],
                "headers": request["headers"],
                "body": request["body"],
            }),
            duration_ms: request["duration_ms"].clone(),
        })
    }
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/integrations/{name}/test",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    request_body = TestRequest,
    responses(
        (status = 200, body = TestOut, description = "The receiver's status, headers and body, or why nothing was sent; the request as sent, secrets redacted"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The plugin it names is not installed (`missing`), or refused the config"),
    ),
)]
pub(super) async fn test(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<TestRequest>,
) -> Result<Json<TestOut>, ApiError> {
    let entity = &principal.entity;
    let integration = state.store.integration(entity.id, &name).await?;
    let plugin =
        integrations::plugin_for(&state.plugins, integration.kind, body.plugin.as_deref())?;
    let (deliverer, config) = (state.deliverer(), &body.config);
    let record = integrations::test(
        &deliverer,
        entity.id,
        &integration,
        &plugin,
        config,
        body.payload,
    )
    .await?;
    Ok(Json(TestOut::from_record(record)?))
}
