//! `JsonBody`: axum's JSON extractor with every rejection mapped to the API's error body (400 with
//! serde's message, which names the field; 413 for a body over the route's limit).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(map_rejection(rejection)),
        }
    }
}

fn map_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge("the request body is too large".into());
    }
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::Invalid(source_text(&e)),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::Invalid(format!("the body is not valid JSON: {}", source_text(&e)))
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::Invalid("expected Content-Type: application/json".into())
        }
        other => ApiError::Invalid(other.body_text()),
    }
}

/// serde's own message ("missing field `name` at line 1 column 2"), without axum's prefix.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut deepest = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        deepest = cause.to_string();
        source = cause.source();
    }
    deepest
}
