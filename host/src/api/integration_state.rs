//! An integration's state: `POST /v1/entities/{entity}/integrations/{name}/disable` and
//! `…/enable` (admins), and the health every integration body shows. Disabling holds its
//! executions; enabling delivers (or discards) them, oldest first. Both raise an operational
//! event.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Admin;
use super::integrations::{IntegrationOut, shown};
use super::json::JsonBody;
use crate::app::audit::Change;
use crate::delivery::integrations;
use crate::delivery::operational::{Operational, OperationalSink as _};
use crate::error::{ApiError, ErrorBody};
use crate::model::audit::AuditAction;
use crate::model::event::EventType;
use crate::model::integration::HeldChoice;
use crate::store::{IntegrationHealth, unix_millis};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(disable))
        .routes(routes!(enable))
}

/// Whether an integration is enabled and how its deliveries have been going.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthOut {
    /// `enabled`, `failing` (its executions have been failing for good, none succeeding, since
    /// `failing_since`) or `disabled` (its executions are held until an admin enables it).
    pub state: HealthState,
    /// Attempts through it that failed in a row.
    pub consecutive_failures: i64,
    /// Since when its executions have failed for good with no success in between.
    pub failing_since: Option<String>,
    /// When it was disabled.
    pub disabled_at: Option<String>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Executions it holds (waiting for it to be enabled).
    pub held: i64,
}

/// An integration's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HealthState {
    /// Delivering.
    Enabled,
    /// Delivering, but its executions have been failing for good.
    Failing,
    /// Not delivering: executions are held.
    Disabled,
}

impl HealthOut {
    /// The health as stored, with the number of executions held.
    pub(super) fn new(health: IntegrationHealth, held: i64) -> Self {
        let state = match (&health.disabled_at, health.failing_since_ms) {
            (Some(_), _) => HealthState::Disabled,
            (None, Some(_)) => HealthState::Failing,
            (None, None) => HealthState::Enabled,
        };
        Self {
            state,
            consecutive_failures: health.consecutive_failures,
            failing_since: health.failing_since_ms.map(crate::store::rfc3339_of_millis),
            disabled_at: health.disabled_at,
            disabled_reason: health.disabled_reason,
            held,
        }
    }
}

/// The body of `POST …/integrations/{name}/disable`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DisableIn {
    /// Why (shown with its state), without control characters. Default (or blank):
    /// `disabled by an admin`.
    #[serde(default)]
    #[schema(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/integrations/{name}/disable",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    request_body = DisableIn,
    responses(
        (status = 200, body = IntegrationOut, description = "Disabled (or already was): its executions are held until it is enabled"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn disable(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<DisableIn>,
) -> Result<Json<IntegrationOut>, ApiError> {
    let entity = &principal.entity;
    let reason = integrations::disable_reason(body.reason)?;
    let before = shown(&state, entity.id, &name).await?;
    let toggled = state
        .store
        .set_integration_disabled(entity.id, &name, Some(reason.clone()), HeldChoice::Deliver)
        .await?;
    if toggled.changed {
        let event = Operational::integration(
            EventType::IntegrationDisabled,
            &entity.name,
            &name,
            Some(reason),
            unix_millis(),
        );
        state.ingest().raise(entity.id, event);
    }
    let out = shown(&state, entity.id, &name).await?;
    if toggled.changed {
        let change = Change::new(AuditAction::IntegrationDisabled, name.as_str());
        state
            .audit(&principal, change.before(&before).after(&out))
            .await;
    }
    Ok(Json(out))
}

/// The body of `POST …/integrations/{name}/enable`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableIn {
    /// What becomes of the executions held while it was disabled: `deliver` them, oldest
    /// first (the default), or `discard` them (they fail, saying why).
    #[serde(default)]
    pub held: HeldChoice,
}

/// `POST …/integrations/{name}/enable`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnabledOut {
    /// The integration, enabled.
    pub integration: IntegrationOut,
    /// Whether it was disabled (false: it already was enabled, and nothing changed).
    pub changed: bool,
    /// Held executions now due (`deliver`) or failed (`discard`).
    pub released: usize,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/integrations/{name}/enable",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
    ),
    request_body = EnableIn,
    responses(
        (status = 200, body = EnabledOut, description = "Enabled, its failure count cleared; what it held is due again, oldest first, or discarded"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn enable(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<EnableIn>,
) -> Result<Json<EnabledOut>, ApiError> {
    let entity = &principal.entity;
    let before = shown(&state, entity.id, &name).await?;
    let toggled = state
        .store
        .set_integration_disabled(entity.id, &name, None, body.held)
        .await?;
    if toggled.held > 0 {
        state.delivery.wake();
    }
    if toggled.changed {
        let kind = EventType::IntegrationEnabled;
        let event = Operational::integration(kind, &entity.name, &name, None, unix_millis());
        state.ingest().raise(entity.id, event);
    }
    let out = shown(&state, entity.id, &name).await?;
    if toggled.changed {
        let mut after = serde_json::to_value(&out).unwrap_or_default();
        after["held"] = serde_json::json!({"choice": body.held, "released": toggled.held});
        let change = Change::new(AuditAction::IntegrationEnabled, name.as_str());
        state
            .audit(&principal, change.before(&before).after(&after))
            .await;
    }
    Ok(Json(EnabledOut {
        integration: out,
        changed: toggled.changed,
        released: toggled.held,
    }))
}
