//! Entities and API keys: `POST /v1/entities` (instance operators), and an entity's keys
//! (`GET/POST /v1/entities/{entity}/keys`, `DELETE …/keys/{id}`, admins).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Operator, Principal};
use super::json::JsonBody;
use super::{AppState, store_error};
use crate::app::audit::Change;
use crate::auth::{Role, generate_key};
use crate::error::{ApiError, ErrorBody};
use crate::events::event::check_name;
use crate::model::audit::AuditAction;
use crate::store::StoreError;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(create_entity))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(delete_key))
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "entities",
    responses(
        (status = 200, body = MeOut, description = "The calling key's entity and role"),
        (status = 401, body = ErrorBody),
    ),
)]
pub(super) async fn me(principal: Principal) -> Json<MeOut> {
    Json(MeOut::from(principal))
}

/// The body of `POST /v1/entities`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewEntity {
    /// The new entity's name (no `/`, `:` or control characters).
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub name: String,
}

#[utoipa::path(
    post,
    path = "/v1/entities",
    tag = "entities",
    request_body = NewEntity,
    responses(
        (status = 201, body = NewEntityOut, description = "The entity and its first admin key (shown once)"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn create_entity(
    State(state): State<AppState>,
    Operator(principal): Operator,
    JsonBody(body): JsonBody<NewEntity>,
) -> Result<(StatusCode, Json<NewEntityOut>), ApiError> {
    check_name("name", &body.name).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let (entity, key) = state
        .store
        .create_entity(&body.name, generate_key())
        .await
        .map_err(store_error)?;
    let after =
        json!({"entity": entity.name, "created_at": entity.created_at, "admin_key_id": key.id});
    let change = Change::new(AuditAction::EntityCreated, entity.name.as_str()).after(&after);
    state.audit(&principal, change).await;
    Ok((
        StatusCode::CREATED,
        Json(NewEntityOut {
            entity: entity.name,
            created_at: entity.created_at,
            admin_key: AdminKeyOut {
                id: key.id,
                key: key.key,
            },
        }),
    ))
}

/// The body of `POST /v1/entities/{entity}/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKeyBody {
    /// `admin`, `member` or `agent`.
    pub role: Role,
    /// A label to recognise the key by.
    #[serde(default)]
    pub label: String,
    /// For an `agent` key (and only for one): the queues it may claim from, at least one.
    #[serde(default)]
    pub queues: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/keys",
    tag = "entities",
    params(("entity" = String, Path)),
    request_body = NewKeyBody,
    responses(
        (status = 201, body = NewKeyOut, description = "The new key (shown once)"),
        (status = 400, body = ErrorBody, description = "An agent key without queues, or queues for another role"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A queue it names does not exist (`missing`)"),
    ),
)]
pub(super) async fn create_key(
    State(state): State<AppState>,
    Admin(principal): Admin,
    JsonBody(body): JsonBody<NewKeyBody>,
) -> Result<(StatusCode, Json<NewKeyOut>), ApiError> {
    let entity = &principal.entity;
    body.role
        .check_queues(&body.queues)
        .map_err(|e| ApiError::Invalid(format!("queues: {e}")))?;
    for (index, queue) in body.queues.iter().enumerate() {
        state
            .store
            .queue(entity.id, queue)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    ApiError::Missing(format!("queues[{index}]: no queue named {queue}"))
                }
                other => other.into(),
            })?;
    }
    let (role, queues) = (body.role, body.queues.clone());
    let key = state
        .store
        .create_key(entity.id, role, &body.label, generate_key(), queues)
        .await?;
    let after = json!({"id": key.id, "role": key.role, "label": body.label, "queues": body.queues});
    let change = Change::new(AuditAction::KeyCreated, key.id.as_str()).after(&after);
    state.audit(&principal, change).await;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyOut {
            id: key.id,
            key: key.key,
            role: key.role,
            label: body.label,
            queues: body.queues,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/keys",
    tag = "entities",
    params(("entity" = String, Path)),
    responses(
        (status = 200, body = KeysOut, description = "Key ids, roles and labels"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    Admin(principal): Admin,
) -> Result<Json<KeysOut>, ApiError> {
    let entity = &principal.entity;
    let keys = state
        .store
        .list_keys(entity.id)
        .await
        .map_err(store_error)?;
    let keys = keys
        .into_iter()
        .map(|(id, role, label, created_at, queues)| KeyOut {
            id,
            role,
            label,
            created_at,
            queues,
        })
        .collect();
    Ok(Json(KeysOut { keys }))
}

#[utoipa::path(
    delete,
    path = "/v1/entities/{entity}/keys/{id}",
    tag = "entities",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn delete_key(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let entity = &principal.entity;
    let hash = state
        .store
        .delete_key(entity.id, &id)
        .await
        .map_err(store_error)?;
    state.keys.forget(&hash);
    state
        .audit(&principal, Change::new(AuditAction::KeyRevoked, id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`: who the calling key is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeOut {
    /// The key's entity.
    pub entity: String,
    /// The key's role.
    pub role: Role,
    /// The key's id.
    pub key_id: String,
    /// Whether the entity is the operator's (it may create entities).
    pub operator: bool,
}

impl From<super::auth::Principal> for MeOut {
    fn from(principal: super::auth::Principal) -> Self {
        Self {
            entity: principal.entity.name,
            role: principal.role,
            key_id: principal.key_id,
            operator: principal.entity.operator,
        }
    }
}

/// A key as created: the key itself is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewKeyOut {
    /// The key's id.
    pub id: String,
    /// The key (`hk_…`).
    pub key: String,
    /// Its role.
    pub role: Role,
    /// Its label.
    pub label: String,
    /// An agent key's queues.
    pub queues: Vec<String>,
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyOut {
    /// The key's id.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Its label.
    pub label: String,
    /// When it was created.
    pub created_at: String,
    /// An agent key's queues.
    pub queues: Vec<String>,
}

/// `GET …/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeysOut {
    /// The entity's keys.
    pub keys: Vec<KeyOut>,
}

/// The first admin key of a new entity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminKeyOut {
    /// The key's id.
    pub id: String,
    /// The key (shown once).
    pub key: String,
}

/// `POST /v1/entities`: the entity and its first admin key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewEntityOut {
    /// The entity's name.
    pub entity: String,
    /// When it was created.
    pub created_at: String,
    /// Its first admin key.
    pub admin_key: AdminKeyOut,
}
