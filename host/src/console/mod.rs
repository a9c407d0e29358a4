//! The web console: static pages embedded in the binary (no build step, no second server) that
//! drive the public API from the browser, and the session routes that let them.
//!
//! Sign-in trades an API key for an `HttpOnly`, `SameSite=Strict` session cookie holding the key,
//! so no page script ever holds it; requests the cookie authenticates are accepted only with the
//! console's header and a same-origin `Origin` (`api::auth::check_console_request`). Every page
//! is sent with a Content-Security-Policy that allows nothing but this server's own scripts,
//! styles and API.

mod session;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::error::ApiError;

/// What every console page and asset is sent with: only this origin's scripts, styles,
/// images and API; no frames, no plugins, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

const INDEX: &str = include_str!("assets/index.html");

/// The console's routes: `/`, `/console/*` and the session.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/console/session",
            post(session::sign_in).delete(session::sign_out),
        )
        .route("/console/{*path}", get(asset))
}

async fn index(request: HeaderMap) -> Response {
    static TAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| entity_tag(INDEX));
    page(&request, &TAG, "text/html; charset=utf-8", INDEX)
}

async fn asset(Path(path): Path<String>, request: HeaderMap) -> Result<Response, ApiError> {
    static TAGS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| ASSETS.iter().map(|(_, _, body)| entity_tag(body)).collect());
    let (index, (_, kind, body)) = ASSETS
        .iter()
        .enumerate()
        .find(|(_, (name, _, _))| *name == path)
        .ok_or_else(|| ApiError::NotFound(format!("no console file {path}")))?;
    Ok(page(&request, &TAGS[index], kind, body))
}

/// A file's entity tag: the start of its SHA-256, so that it changes exactly when the file
/// does (with the binary). Weak (`W/`), since the one tag stands for the file sent plain and
/// sent gzipped, which are the same content but not the same bytes (RFC 9110, 8.8.1).
fn entity_tag(body: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body.as_bytes());
    format!("W/\"{}\"", hex::encode(&digest[..12]))
}

/// A console response with the headers every one carries and its entity tag `tag`; `304 Not
/// Modified` (no body) when the browser's copy is this one.
fn page(request: &HeaderMap, tag: &str, kind: &'static str, body: &'static str) -> Response {
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        // `If-None-Match` compares weakly: `W/` on either side is ignored.
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == tag.trim_start_matches("W/") || candidate == "*");
    let mut response = if fresh {
        axum::http::StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, tag);
    }
    secure_headers(headers);
    response
}

/// The Content-Security-Policy and its companions.
fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The assets change with the binary; a browser revalidates instead of running stale code.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}
