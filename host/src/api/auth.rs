//! Authentication and authorisation: the `Principal` behind a request's API key, and what its role
//! may do. Keys are looked up by their SHA-256 (cached in memory) and compared in constant time.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::auth::{Role, hash_key, hashes_equal};
use crate::error::ApiError;
use crate::store::EntityRecord;

/// Who is calling: the key's entity and role.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id.
    pub key_id: String,
    /// The key's entity.
    pub entity: EntityRecord,
    /// The key's role.
    pub role: Role,
    /// For a run token: the one run (project, run id) it may post events for, and nothing else.
    pub run: Option<(String, String)>,
}

impl Principal {
    /// 403 unless the key is an admin key.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Member => Err(ApiError::Forbidden(format!("only admins may {what}"))),
        }
    }

    /// The entity named in a path or body, if it is the key's own; another entity's data is
    /// invisible (404).
    pub fn own_entity(&self, name: &str) -> Result<&EntityRecord, ApiError> {
        if name == self.entity.name {
            Ok(&self.entity)
        } else {
            Err(ApiError::NotFound(format!("entity {name} not found")))
        }
    }
}

/// The routes a run token may call: posting events (for its own run, checked per event).
const RUN_TOKEN_ROUTES: [&str; 2] = ["/v1/events", "/v1/events/batch"];

/// The principal of a run token: valid while its item is claimed or running, and only for
/// posting its own run's events.
async fn run_principal(
    parts: &Parts,
    state: &AppState,
    hash: [u8; 32],
) -> Result<Principal, ApiError> {
    let (entity, project, run_id) = state
        .store
        .run_token(hash)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or_else(|| {
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
    })
}

/// Keys already verified, by hash: most requests never reach the database for auth.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<[u8; 32], Principal>>,
}

impl KeyCache {
    /// Forgets every key (another host deleted one): each is verified again on its next use.
    pub fn clear(&self) {
        self.keys.write().expect("not poisoned").clear();
    }

    /// Forgets a key (after it is deleted).
    pub fn forget(&self, hash: &[u8]) {
        if let Ok(hash) = <[u8; 32]>::try_from(hash) {
            self.keys.write().expect("not poisoned").remove(&hash);
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized("an API key is required: Authorization: Bearer <key>".into())
            })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <key>`".into())
            })?;
        let hash = hash_key(key);
        if key.starts_with(crate::auth::RUN_TOKEN_PREFIX) {
            return run_principal(parts, state, hash).await;
        }
        if let Some(principal) = state.keys.keys.read().expect("not poisoned").get(&hash) {
            return Ok(principal.clone());
        }
        let record = state
            .store
            .key_by_hash(hash)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let record = record
            .filter(|r| hashes_equal(&r.key_hash, &hash))
            .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))?;
        let principal = Principal {
            key_id: record.id,
            entity: record.entity,
            role: record.role,
            run: None,
        };
        state
            .keys
            .keys
            .write()
            .expect("not poisoned")
            .insert(hash, principal.clone());
        Ok(principal)
    }
}
