//! Who is calling: the [`Principal`] an API key, agent key, run token or console session stands
//! for, what its role may do, and the cache of keys already verified. Turning a request into one
//! is `api/auth.rs`.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::auth::Role;
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
    /// For an agent key: the queues it may claim from (the only thing it may do).
    pub queues: Vec<String>,
}

impl Principal {
    /// The entity a path, body or query names, if it is the key's own: another entity's data is
    /// invisible (404), except to the operator's admins, who create entities, so hiding one
    /// hides nothing from them: they are told why (403).
    pub fn own_entity(&self, name: &str) -> Result<&EntityRecord, ApiError> {
        if name == self.entity.name {
            Ok(&self.entity)
        } else if self.entity.operator && self.role == Role::Admin {
            Err(ApiError::Forbidden(format!(
                "a key acts in its own entity only: act in {name} with one of its keys (POST /v1/entities answered its first admin key)"
            )))
        } else {
            Err(ApiError::NotFound(format!("entity {name} not found")))
        }
    }

    /// [`Principal::own_entity`] for an entity a request body names in `field`: one the key
    /// cannot see is a name that refers to nothing (422 `missing`), not a missing route.
    pub fn own_entity_named(&self, field: &str, name: &str) -> Result<&EntityRecord, ApiError> {
        self.own_entity(name).map_err(|error| match error {
            ApiError::NotFound(_) => ApiError::Missing(format!("{field}: no entity named {name}")),
            other => other,
        })
    }
}

/// Keys already verified, by hash: most requests never reach the database for auth.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<[u8; 32], Principal>>,
}

impl KeyCache {
    /// The principal of a key verified before, by its hash.
    pub fn get(&self, hash: &[u8; 32]) -> Option<Principal> {
        self.keys.read().expect("not poisoned").get(hash).cloned()
    }

    /// Remembers a verified key.
    pub fn insert(&self, hash: [u8; 32], principal: Principal) {
        self.keys
            .write()
            .expect("not poisoned")
            .insert(hash, principal);
    }

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
