//! Secrets: `PUT/DELETE /v1/entities/{entity}/secrets/{name}`, `GET …/secrets`. Admins only;
//! values are write-only: no response ever carries one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::json::JsonBody;
use super::{AppState, store_error};
use crate::error::{ApiError, ErrorBody};
use crate::store::SecretRecord;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set, remove))
}

/// The longest secret value, in characters (the document's `maxLength`).
const MAX_SECRET_CHARS: usize = 65536;

/// The body of `PUT …/secrets/{name}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretValue {
    /// The secret's value (write-only): 4 to 65,536 characters.
    #[schema(min_length = 4, max_length = 65536)]
    pub value: String,
}

#[utoipa::path(
    put,
    path = "/v1/entities/{entity}/secrets/{name}",
    tag = "secrets",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
    ),
    request_body = SecretValue,
    responses(
        (status = 201, body = SecretSetOut, description = "Created"),
        (status = 200, body = SecretSetOut, description = "Replaced"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn set(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<SecretValue>,
) -> Result<(StatusCode, Json<SecretSetOut>), ApiError> {
    let entity = &principal.entity;
    if !crate::secrets::valid_name(&name) {
        return Err(ApiError::Invalid(format!(
            "name: {name:?} is not a valid secret name ([A-Za-z_][A-Za-z0-9_]*, at most 128 characters)"
        )));
    }
    // Counted in characters, as the document's minLength and maxLength are; 4 characters are
    // at least the 4 bytes redaction needs to tell a value apart from ordinary text.
    let min = crate::delivery::redact::MIN_SECRET_LEN;
    let length = body.value.chars().count();
    if length < min || length > MAX_SECRET_CHARS {
        return Err(ApiError::Invalid(format!(
            "value: must be {min} to {MAX_SECRET_CHARS} characters (a shorter value could not be told apart from ordinary text when records are redacted)"
        )));
    }
    let (nonce, ciphertext) = state.master_key.seal(entity.id, &name, &body.value);
    let created = state
        .store
        .put_secret(entity.id, &name, nonce, ciphertext)
        .await
        .map_err(store_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SecretSetOut { name, created })))
}

#[utoipa::path(
    delete,
    path = "/v1/entities/{entity}/secrets/{name}",
    tag = "secrets",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let entity = &principal.entity;
    state
        .store
        .delete_secret(entity.id, &name)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/secrets",
    tag = "secrets",
    params(("entity" = String, Path)),
    responses(
        (status = 200, description = "Names and times, never values", body = SecretsOut),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Admin(principal): Admin,
) -> Result<Json<SecretsOut>, ApiError> {
    let entity = &principal.entity;
    let secrets = state
        .store
        .list_secrets(entity.id)
        .await
        .map_err(store_error)?;
    let secrets = secrets.into_iter().map(Into::into).collect();
    Ok(Json(SecretsOut { secrets }))
}

/// `PUT …/secrets/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretSetOut {
    /// The secret's name.
    pub name: String,
    /// Whether it was created (else replaced).
    pub created: bool,
}

/// `GET …/secrets`: names and times, never values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretsOut {
    /// The entity's secrets.
    pub secrets: Vec<SecretOut>,
}

/// A secret as listed: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretOut {
    /// Its name.
    pub name: String,
    /// When it was first set.
    pub created_at: String,
    /// When its value last changed.
    pub updated_at: String,
}

impl From<SecretRecord> for SecretOut {
    fn from(record: SecretRecord) -> Self {
        Self {
            name: record.name,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
