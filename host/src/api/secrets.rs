//! Secrets: `PUT/DELETE /v1/entities/{entity}/secrets/{name}`, `GET …/secrets`, and
//! `POST …/secrets/{name}/rotate`. Admins only; values are write-only: no response carries one,
//! except the value a rotation made, once.

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
use crate::app::audit::Change;
use crate::error::{ApiError, ErrorBody};
use crate::model::audit::AuditAction;
use crate::secrets::rotation;
use crate::store::{SecretRecord, unix_millis};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set, remove))
        .routes(routes!(rotate))
}

/// The longest secret value, in characters (the document's `maxLength`).
const MAX_SECRET_CHARS: usize = 65536;

/// Refuses a value too short for redaction to tell apart from ordinary text, or too long.
/// Counted in characters, as the document's minLength and maxLength are; 4 characters are at
/// least the 4 bytes redaction needs.
fn check_value(value: &str) -> Result<(), ApiError> {
    let min = crate::delivery::redact::MIN_SECRET_LEN;
    let length = value.chars().count();
    if length < min || length > MAX_SECRET_CHARS {
        return Err(ApiError::Invalid(format!(
            "value: must be {min} to {MAX_SECRET_CHARS} characters (a shorter value could not be told apart from ordinary text when records are redacted)"
        )));
    }
    Ok(())
}

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
    check_value(&body.value)?;
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
    let out = SecretSetOut { name, created };
    let change = Change::new(AuditAction::SecretSet, out.name.as_str()).after(&out);
    state.audit(&principal, change).await;
    Ok((status, Json(out)))
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
    let change = Change::new(AuditAction::SecretDeleted, name.as_str());
    state.audit(&principal, change).await;
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

/// The body of `POST …/secrets/{name}/rotate`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Rotation {
    /// The new value (4 to 65,536 characters). Left out, Herald makes one in the Standard
    /// Webhooks form (`whsec_` and 32 random bytes in base64) and answers it, this once.
    #[serde(default)]
    #[schema(min_length = 4, max_length = 65536)]
    pub value: Option<String>,
    /// How long the replaced value keeps signing, in seconds: 86,400 (24 h) unless given, at
    /// most 604,800 (7 days); 0 ends it at once.
    #[serde(
        default = "default_overlap",
        deserialize_with = "crate::model::whole::integer"
    )]
    #[schema(minimum = 0, maximum = 604800, default = 86400)]
    pub overlap_seconds: u32,
}

fn default_overlap() -> u32 {
    rotation::DEFAULT_OVERLAP_SECONDS
}

/// `POST …/secrets/{name}/rotate`.
#[derive(Serialize, ToSchema)]
pub(crate) struct RotatedOut {
    /// The secret's name.
    pub name: String,
    /// The new value, when Herald made it (shown this once; configure receivers with it).
    pub value: Option<String>,
    /// Until when the replaced value signs too (RFC 3339): each request carries a signature for
    /// each value, space-separated, in `webhook-signature` and `X-Wandb-Signature`.
    pub previous_valid_until: String,
}

/// Rotates a secret: a new value, while the replaced one keeps signing for the overlap, so that
/// receivers verifying with either pass until they have moved to the new one.
#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/secrets/{name}/rotate",
    tag = "secrets",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
    ),
    request_body = Rotation,
    responses(
        (status = 200, body = RotatedOut, description = "Rotated"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such secret"),
    ),
)]
pub(super) async fn rotate(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<Rotation>,
) -> Result<Json<RotatedOut>, ApiError> {
    let entity = &principal.entity;
    if body.overlap_seconds > rotation::MAX_OVERLAP_SECONDS {
        return Err(ApiError::Invalid(
            "overlap_seconds: at most 604800 (7 days)".into(),
        ));
    }
    let made = body.value.is_none();
    let value = body.value.unwrap_or_else(rotation::new_signing_value);
    check_value(&value)?;
    let (nonce, ciphertext) = state.master_key.seal(entity.id, &name, &value);
    let (until_ms, until) = rotation::overlap_end(unix_millis(), body.overlap_seconds);
    let store = &state.store;
    store
        .rotate_secret(entity.id, &name, nonce, ciphertext, until_ms)
        .await?;
    let change = Change::new(AuditAction::SecretRotated, name.as_str()).after(&serde_json::json!({
        "name": name,
        "made_by_herald": made,
        "previous_valid_until": until,
    }));
    state.audit(&principal, change).await;
    let value = made.then_some(value);
    let previous_valid_until = until;
    Ok(Json(RotatedOut {
        name,
        value,
        previous_valid_until,
    }))
}
