//! Authentication and authorisation: the `Principal` behind a request's API key, and what its role
//! may do. Keys are looked up by their SHA-256 (cached in memory) and compared in constant time.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;

use super::AppState;
pub use crate::app::principal::{KeyCache, Principal};
use crate::auth::{Role, hash_key, hashes_equal};
use crate::error::ApiError;

/// The routes a run token may call: posting events (for its own run, checked per event).
const RUN_TOKEN_ROUTES: [&str; 2] = ["/v1/events", "/v1/events/batch"];

/// The principal of a run token: valid while its item is claimed or running, and only for
/// posting its own run's events.
async fn run_principal(
    parts: &Parts,
    state: &AppState,
    hash: [u8; 32],
) -> Result<Principal, ApiError> {
    let (entity, project, run_id) = state.store.run_token(hash).await?.ok_or_else(|| {
        ApiError::Unauthorized("the run token is not valid (its run is not running)".into())
    })?;
    if parts.method != axum::http::Method::POST || !RUN_TOKEN_ROUTES.contains(&parts.uri.path()) {
        return Err(ApiError::Forbidden(
            "a run token may only post events for its own run".into(),
        ));
    }
    Ok(Principal {
        key_id: format!("run:{run_id}"),
        entity,
        role: Role::Member,
        run: Some((project, run_id)),
        queues: Vec::new(),
    })
}

/// The console's session cookie: the API key itself, `HttpOnly` (page scripts never see it) and
/// `SameSite=Strict`. Requests it authenticates must also pass [`check_console_request`].
pub const SESSION_COOKIE: &str = "herald_session";

/// The header the console sends with every request. A page on another origin cannot send it
/// without a CORS preflight, which Herald never approves, so a cookie-authenticated request
/// without it is refused: that, not the cookie's `SameSite`, is what stops a forged request from
/// a page on the same site (another port of the same host).
pub const CONSOLE_HEADER: &str = "x-herald-console";

/// Refuses a cookie-authenticated request that does not come from the console's own pages: it
/// must carry [`CONSOLE_HEADER`], and any `Origin` or `Sec-Fetch-Site` it has must say it is
/// same-origin.
pub fn check_console_request(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let refused = |why: &str| {
        Err(ApiError::Forbidden(format!(
            "refused a console session request {why}"
        )))
    };
    if headers.get(CONSOLE_HEADER).is_none() {
        return refused("without the console's header (cross-site requests are not accepted)");
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site != "same-origin")
    {
        return refused("from another site");
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host);
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        if origin_host.is_none() || origin_host != host {
            return refused("from another origin");
        }
    }
    Ok(())
}

/// The value of the session cookie, if the request has one.
pub fn session_key(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

/// The principal behind an API key (not a run token), verified against the store once and then
/// cached.
pub(crate) async fn key_principal(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let hash = hash_key(key);
    if let Some(principal) = state.keys.get(&hash) {
        return Ok(principal);
    }
    // A database that cannot be reached is 503 here too, as on every route.
    let record = state.store.key_by_hash(hash).await?;
    let record = record
        .filter(|r| hashes_equal(&r.key_hash, &hash))
        .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))?;
    let principal = Principal {
        key_id: record.id,
        entity: record.entity,
        role: record.role,
        run: None,
        queues: record.queues,
    };
    state.keys.insert(hash, principal.clone());
    Ok(principal)
}

/// The routes an agent key may call besides its own ([`AgentKey`] routes): who it is.
const AGENT_ALSO_ROUTES: [&str; 1] = ["/v1/me"];

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// Any key or run token, except an agent key outside [`AGENT_ALSO_ROUTES`]; of the entity
    /// the route's path names, if it names one.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = resolve(parts, state).await?;
        if principal.role == Role::Agent && !AGENT_ALSO_ROUTES.contains(&parts.uri.path()) {
            return Err(ApiError::Forbidden(
                "an agent key may only claim, heartbeat and finish items of its queues".into(),
            ));
        }
        check_path_entity(parts, &principal).await?;
        Ok(principal)
    }
}

/// Refuses a route whose path names (in `{entity}`) an entity not the key's own: see
/// [`Principal::own_entity`].
async fn check_path_entity(parts: &mut Parts, principal: &Principal) -> Result<(), ApiError> {
    let Ok(params) = RawPathParams::from_request_parts(parts, &()).await else {
        return Ok(());
    };
    let Some((_, entity)) = params.iter().find(|(name, _)| *name == "entity") else {
        return Ok(());
    };
    principal.own_entity(entity)?;
    Ok(())
}

/// What a refused call was, for its 403: `POST /v1/entities/{entity}/secrets/{name}`.
fn call(parts: &Parts) -> String {
    let path = parts
        .extensions
        .get::<MatchedPath>()
        .map_or(parts.uri.path(), MatchedPath::as_str);
    format!("{} {path}", parts.method)
}

/// The caller of a route only admins may call: an admin key (of the entity the route's path
/// names, if it names one).
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if principal.role != Role::Admin {
            return Err(ApiError::Forbidden(format!(
                "only admins may call {}",
                call(parts)
            )));
        }
        Ok(Self(principal))
    }
}

/// The caller of a route that manages the host (entities, installed plugins): an admin key of
/// the operator entity.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Admin(principal) = Admin::from_request_parts(parts, state).await?;
        if !principal.entity.operator {
            return Err(ApiError::Forbidden(format!(
                "only the operator entity's admins may call {}",
                call(parts)
            )));
        }
        Ok(Self(principal))
    }
}

/// The caller of a route that runs queue items (claim, heartbeat, finish): an agent key, whose
/// queues [`AgentKey::require_queue`] checks. Admin and member keys are refused: a key that
/// can read item listings must not be able to report on an item.
#[derive(Debug, Clone)]
pub struct AgentKey(pub Principal);

impl AgentKey {
    /// 403 unless the key is bound to `queue`.
    pub fn require_queue(&self, queue: &str) -> Result<(), ApiError> {
        if self.0.queues.iter().any(|q| q == queue) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this agent key is not bound to queue {queue}"
            )))
        }
    }
}

impl FromRequestParts<AppState> for AgentKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = resolve(parts, state).await?;
        if principal.role != Role::Agent {
            return Err(ApiError::Forbidden(
                "only an agent key (role agent, bound to the queue) may claim, heartbeat or finish items".into(),
            ));
        }
        check_path_entity(parts, &principal).await?;
        Ok(Self(principal))
    }
}

/// The principal behind a request's credentials, whatever it may do.
async fn resolve(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            // No header: the console's session, if there is one.
            let Some(key) = session_key(&parts.headers) else {
                return Err(ApiError::Unauthorized(
                    "an API key is required: Authorization: Bearer <key>".into(),
                ));
            };
            check_console_request(&parts.headers)?;
            return key_principal(state, &key).await;
        };
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <key>`".into())
            })?;
        if key.starts_with(crate::auth::RUN_TOKEN_PREFIX) {
            return run_principal(parts, state, hash_key(key)).await;
        }
        key_principal(state, key).await
    }
}
