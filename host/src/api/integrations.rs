//! Integrations: `POST/GET /v1/entities/{entity}/integrations`, `GET/PATCH/DELETE …/{name}`.
//! Members read; admins write. Testing one is `integration_send`'s, disabling and enabling one
//! `integration_state`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Admin, Principal};
use super::json::JsonBody;
use crate::app::audit::Change;
use crate::delivery::integrations::{self, IntegrationError};
use crate::error::{ApiError, ErrorBody};
use crate::model::audit::AuditAction;
use crate::model::integration::IntegrationKind;
use crate::store::{IntegrationRecord, now_rfc3339};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

/// The body of `POST …/integrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewIntegration {
    /// Its name, unique in the entity: letters, digits, `-`, `_`, `.`.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: String,
    /// What it points at.
    pub kind: IntegrationKind,
    /// Where requests go (http or https, a DNS name). Give this or `url_secret`.
    #[serde(default)]
    pub url: Option<String>,
    /// The name of a secret whose value is the URL, for URLs that are credentials (Slack and
    /// Teams webhooks): then the URL is never shown and is redacted in every record.
    #[serde(default)]
    pub url_secret: Option<String>,
    /// The name of the secret sent as `Authorization: Bearer`.
    #[serde(default)]
    pub access_token: Option<String>,
    /// The name of the secret that signs requests.
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// The secrets its automations' payload templates may reference (`${NAME}`), besides its
    /// own URL secret, access token and signing secret. A template naming any other secret is
    /// refused when it is saved, so a member can only send a secret where an admin chose to.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Seconds of failing executions (every one failed for good, none succeeded) after which
    /// it is disabled; 0 = never. Default: the host's `[delivery] disable_after` (5 days).
    #[serde(default, deserialize_with = "crate::model::whole::optional")]
    #[schema(maximum = 31_536_000)]
    pub disable_after_seconds: Option<u32>,
}

/// The most `disable_after_seconds` may be: a year.
const MAX_DISABLE_AFTER_SECONDS: u32 = 31_536_000;

/// `disable_after_seconds` as stored (ms), checked.
fn disable_after_ms(seconds: Option<u32>) -> Result<Option<i64>, ApiError> {
    match seconds {
        Some(s) if s > MAX_DISABLE_AFTER_SECONDS => Err(ApiError::Invalid(format!(
            "disable_after_seconds: at most {MAX_DISABLE_AFTER_SECONDS} (a year), not {s}"
        ))),
        other => Ok(other.map(|s| i64::from(s) * 1000)),
    }
}

/// The body of `PATCH …/integrations/{name}`: any subset; `null` clears a secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IntegrationPatch {
    /// A new name.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: Option<String>,
    /// A new kind.
    pub kind: Option<IntegrationKind>,
    /// A new URL (clears `url_secret`).
    pub url: Option<String>,
    /// A new URL secret (clears `url`).
    pub url_secret: Option<String>,
    /// A new access token secret (`null` removes it).
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub access_token: Option<Option<String>>,
    /// A new signing secret (`null` removes it).
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub signing_secret: Option<Option<String>>,
    /// The secrets it grants, replacing the list (refused while an automation's template
    /// references a secret it would no longer grant).
    pub secrets: Option<Vec<String>>,
    /// Its own `disable_after_seconds` (`null`: the host's again).
    #[serde(default, deserialize_with = "some_seconds")]
    #[schema(value_type = Option<u32>, maximum = 31_536_000)]
    pub disable_after_seconds: Option<Option<u32>>,
}

impl IntegrationPatch {
    /// The record with the patch's fields set (a new URL replaces a URL secret, and the reverse).
    fn apply(self, record: &mut IntegrationRecord) -> Result<(), ApiError> {
        if let Some(seconds) = self.disable_after_seconds {
            record.disable_after_ms = disable_after_ms(seconds)?;
        }
        if let Some(new) = self.name {
            record.name = new;
        }
        if let Some(kind) = self.kind {
            record.kind = kind;
        }
        if let Some(url) = self.url {
            record.url = url;
            record.url_secret = None;
        }
        if let Some(secret) = self.url_secret {
            record.url_secret = Some(secret);
            record.url = String::new();
        }
        if let Some(token) = self.access_token {
            record.access_token = token;
        }
        if let Some(secret) = self.signing_secret {
            record.signing_secret = secret;
        }
        if let Some(secrets) = self.secrets {
            record.secrets = secrets;
        }
        Ok(())
    }
}

fn some_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    crate::model::whole::optional(d).map(Some)
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/integrations",
    tag = "integrations",
    params(("entity" = String, Path)),
    request_body = NewIntegration,
    responses(
        (status = 201, body = IntegrationOut),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A secret it names does not exist (`missing`), or the egress policy refused the URL (`refused`)"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(principal): Admin,
    JsonBody(body): JsonBody<NewIntegration>,
) -> Result<(StatusCode, Json<IntegrationOut>), ApiError> {
    let entity = &principal.entity;
    if body.url.is_some() == body.url_secret.is_some() {
        return Err(ApiError::Invalid(
            "url: give exactly one of url and url_secret".into(),
        ));
    }
    let now = now_rfc3339();
    let record = IntegrationRecord {
        id: crate::auth::random_id("int_"),
        name: body.name,
        kind: body.kind,
        url: body.url.unwrap_or_default(),
        url_secret: body.url_secret,
        access_token: body.access_token,
        signing_secret: body.signing_secret,
        secrets: body.secrets,
        created_at: now.clone(),
        updated_at: now,
        disable_after_ms: disable_after_ms(body.disable_after_seconds)?,
        health: Default::default(),
    };
    integrations::check(&state.deliverer(), &state.egress, entity.id, &record).await?;
    let record = state.store.create_integration(entity.id, record).await?;
    let out = IntegrationOut::new(record, &[]);
    let change = Change::new(AuditAction::IntegrationCreated, out.name.as_str()).after(&out);
    state.audit(&principal, change).await;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/integrations",
    tag = "integrations",
    params(("entity" = String, Path)),
    responses(
        (status = 200, body = IntegrationsOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<IntegrationsOut>, ApiError> {
    let entity = &principal.entity;
    let integrations = state.store.list_integrations(entity.id).await?;
    let held = state.store.held_executions(entity.id).await?;
    Ok(Json(IntegrationsOut::new(integrations, &held)))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/integrations/{name}",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    responses(
        (status = 200, body = IntegrationOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<IntegrationOut>, ApiError> {
    Ok(Json(shown(&state, principal.entity.id, &name).await?))
}

/// The integration as the API shows it, with what it holds.
pub(super) async fn shown(
    state: &AppState,
    entity_id: i64,
    name: &str,
) -> Result<IntegrationOut, ApiError> {
    let record = state.store.integration(entity_id, name).await?;
    let held = state.store.held_executions(entity_id).await?;
    Ok(IntegrationOut::new(record, &held))
}

#[utoipa::path(
    patch,
    path = "/v1/entities/{entity}/integrations/{name}",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    request_body = IntegrationPatch,
    responses(
        (status = 200, body = IntegrationOut),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A secret it names does not exist (`missing`), or the egress policy refused the URL (`refused`)"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(patch): JsonBody<IntegrationPatch>,
) -> Result<Json<IntegrationOut>, ApiError> {
    let entity = &principal.entity;
    if patch.url.is_some() && patch.url_secret.is_some() {
        return Err(ApiError::Invalid(
            "url: give at most one of url and url_secret".into(),
        ));
    }
    let before = shown(&state, entity.id, &name).await?;
    let mut record = state.store.integration(entity.id, &name).await?;
    patch.apply(&mut record)?;
    record.updated_at = now_rfc3339();
    integrations::check(&state.deliverer(), &state.egress, entity.id, &record).await?;
    integrations::check_change(&state.store, &state.plugins, entity.id, &name, &record).await?;
    state.store.update_integration(entity.id, record).await?;
    let out = shown(&state, entity.id, &name).await?;
    let change = Change::new(AuditAction::IntegrationUpdated, name.as_str())
        .before(&before)
        .after(&out);
    state.audit(&principal, change).await;
    Ok(Json(out))
}

#[utoipa::path(
    delete,
    path = "/v1/entities/{entity}/integrations/{name}",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Automations use it (named in the message)"),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let entity = &principal.entity;
    let before = shown(&state, entity.id, &name).await?;
    state.store.delete_integration(entity.id, &name).await?;
    let change = Change::new(AuditAction::IntegrationDeleted, name.as_str()).before(&before);
    state.audit(&principal, change).await;
    Ok(StatusCode::NO_CONTENT)
}

impl From<IntegrationError> for ApiError {
    fn from(error: IntegrationError) -> Self {
        match error {
            IntegrationError::Invalid(message) => ApiError::Invalid(message),
            IntegrationError::Missing(message) => ApiError::Missing(message),
            IntegrationError::Conflict(message) => ApiError::Conflict(message),
            IntegrationError::TooLarge(message) => ApiError::TooLarge(message),
            IntegrationError::PluginRefused(message) => ApiError::PluginRefused(message),
            IntegrationError::Egress(message) => ApiError::Refused(message),
            IntegrationError::Store(error) => error.into(),
            IntegrationError::Internal(error) => ApiError::Internal(error),
        }
    }
}

/// `GET …/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationsOut {
    /// The entity's integrations.
    pub integrations: Vec<IntegrationOut>,
}

impl IntegrationsOut {
    fn new(records: Vec<IntegrationRecord>, held: &[(String, i64)]) -> Self {
        let integrations = records
            .into_iter()
            .map(|record| IntegrationOut::new(record, held))
            .collect();
        Self { integrations }
    }
}

/// An integration: where requests go, the names (never values) of its secrets, and its health.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationOut {
    /// Its id.
    pub id: String,
    /// Its name, unique in the entity.
    pub name: String,
    /// What it points at.
    pub kind: crate::delivery::integration::IntegrationKind,
    /// Where requests go (empty when `url_secret` holds it).
    pub url: String,
    /// The secret whose value is the URL, when the URL is itself a credential.
    pub url_secret: Option<String>,
    /// The secret sent as `Authorization: Bearer`.
    pub access_token: Option<String>,
    /// The secret that signs requests.
    pub signing_secret: Option<String>,
    /// The secrets its automations' payload templates may reference, besides the three above.
    pub secrets: Vec<String>,
    /// Its own `disable_after_seconds` (0 = never); absent: the host's.
    pub disable_after_seconds: Option<i64>,
    /// How its deliveries are going.
    pub health: super::integration_state::HealthOut,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl IntegrationOut {
    pub(super) fn new(record: IntegrationRecord, held: &[(String, i64)]) -> Self {
        let health = record.health;
        let held = held
            .iter()
            .find(|(name, _)| *name == record.name)
            .map_or(0, |(_, count)| *count);
        Self {
            id: record.id,
            name: record.name,
            kind: record.kind,
            url: record.url,
            url_secret: record.url_secret,
            access_token: record.access_token,
            signing_secret: record.signing_secret,
            secrets: record.secrets,
            disable_after_seconds: record.disable_after_ms.map(|ms| ms / 1000),
            health: super::integration_state::HealthOut::new(health, held),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
