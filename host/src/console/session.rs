//! `POST /console/session` (sign in: an API key for a session cookie) and
//! `DELETE /console/session` (sign out).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::auth::{SESSION_COOKIE, check_console_request, key_principal};
use crate::api::json::JsonBody;
use crate::app::AppState;
use crate::error::ApiError;

/// The body of a sign-in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignIn {
    /// An API key (`hk_…`); run tokens cannot sign in.
    key: String,
}

/// Checks the key and sets the session cookie. Like every cookie-authenticated request, a
/// sign-in must come from the console's own page (no signing a victim in from another site).
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    check_console_request(&headers)?;
    let key = body.key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::Invalid("key: paste an API key (hk_…)".into()));
    }
    if key.starts_with(crate::auth::RUN_TOKEN_PREFIX) {
        return Err(ApiError::Invalid(
            "key: a run token cannot sign in to the console; use an API key".into(),
        ));
    }
    let principal = key_principal(&state, key).await?;
    // The same body as `GET /v1/me`: who the key is.
    let mut response = Json(crate::api::entities::MeOut::from(principal)).into_response();
    // A session cookie (no Max-Age): it ends with the browser session or at sign-out.
    let cookie = format!(
        "{SESSION_COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict{}",
        secure_suffix(&headers)
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(response)
}

/// Clears the session cookie.
pub(super) async fn sign_out(headers: HeaderMap) -> Result<Response, ApiError> {
    check_console_request(&headers)?;
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_suffix(&headers)
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(response)
}

/// `; Secure` when the page was loaded over HTTPS (directly or behind a proxy that says so).
fn secure_suffix(headers: &HeaderMap) -> &'static str {
    let https_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes().starts_with(b"https://"));
    let https_proxy = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    if https_origin || https_proxy {
        "; Secure"
    } else {
        ""
    }
}
