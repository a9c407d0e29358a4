//! The API's one error type: every failure maps to a status and the JSON body
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code and a message for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `invalid`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
    /// `too_large`, `plugin_refused`, `unavailable` or `internal`.
    pub code: String,
    /// What is wrong, naming the field where there is one.
    pub message: String,
    /// The request field the message is about (`event.filter`, `action.payload`, `url`, ...),
    /// when it names one: the message's own prefix, so that a form can show it at that field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorDetail {
    /// The detail of an error answer: the field is read off a message of the form
    /// `field: what is wrong`.
    pub fn new(code: impl Into<String>, message: String) -> Self {
        let field = message
            .split_once(": ")
            .map(|(prefix, _)| prefix)
            .filter(|prefix| {
                !prefix.is_empty()
                    && prefix.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-')
                    })
            })
            .map(str::to_string);
        Self {
            code: code.into(),
            message,
            field,
        }
    }
}

/// An error an API route returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or invalid.
    #[error("{0}")]
    Invalid(String),
    /// 401: no key, or a key that is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing (or not visible to this key).
    #[error("{0}")]
    NotFound(String),
    /// 409: a duplicate name, or a thing still in use.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is too large.
    #[error("{0}")]
    TooLarge(String),
    /// 422: a name in the request (a secret, plugin, integration, queue, job) refers to nothing
    /// that exists; the message names the field. (404 is for what the path names.)
    #[error("{0}")]
    Missing(String),
    /// 422: the plugin refused the action config.
    #[error("{0}")]
    PluginRefused(String),
    /// 422: a well-formed value refused by a rule the API document cannot state: the egress
    /// policy the operator configured, or a regular expression the regex engine does not take.
    #[error("{0}")]
    Refused(String),
    /// 503: storage cannot be written now (disk full, read-only); retry after a while.
    #[error("{0}")]
    Unavailable(String),
    /// 503: the delivery backlog is past its bound; retry in a second.
    #[error("{0}")]
    Busy(String),
    /// 500: a bug or an unexpected failure; the message is logged, not returned.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The `Retry-After` (seconds) of a 503.
pub const RETRY_UNAVAILABLE_AFTER: &str = "5";

/// The `Retry-After` (seconds) of a 503 for a delivery backlog past its bound.
pub const RETRY_BUSY_AFTER: &str = "1";

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Missing(_) => (StatusCode::UNPROCESSABLE_ENTITY, "missing"),
            Self::PluginRefused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_refused"),
            Self::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                "internal error (see the server log)".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail::new(code, message),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // A backlog drains in about a second; storage comes back more slowly.
            let after = if code == "busy" {
                RETRY_BUSY_AFTER
            } else {
                RETRY_UNAVAILABLE_AFTER
            };
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(after),
            );
        }
        response
    }
}
