//! `GET /v1/triggers`: what an automation may be built from — the event kinds each kind of scope
//! accepts and the variables a payload template may use — so that forms offer only what the
//! server accepts, from the same tables the server validates with.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Principal;
use crate::automations::{ScopeKind, TriggerKind};
use crate::error::ErrorBody;
use crate::events::{VARIABLES, VariableDoc};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(catalog))
}

/// `GET /v1/triggers`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CatalogOut {
    /// Each kind of scope with the event kinds it accepts.
    pub scopes: Vec<ScopeOut>,
    /// Every template variable, besides `artifact_metadata.KEY` (an artifact's metadata value)
    /// and the entity's secrets (`${NAME}`).
    pub variables: Vec<VariableDoc>,
}

/// A kind of scope.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScopeOut {
    /// The kind.
    pub scope: ScopeKind,
    /// The event kinds an automation in it may wait for.
    pub event_types: Vec<TriggerKind>,
}

/// What automations may be built from.
#[utoipa::path(
    get,
    path = "/v1/triggers",
    tag = "automations",
    responses(
        (status = 200, body = CatalogOut, description = "The event kinds each kind of scope accepts, and the template variables"),
        (status = 401, body = ErrorBody),
    ),
)]
pub(super) async fn catalog(_principal: Principal) -> Json<CatalogOut> {
    Json(CatalogOut {
        scopes: ScopeKind::ALL
            .iter()
            .map(|&scope| ScopeOut {
                scope,
                event_types: scope.triggers().to_vec(),
            })
            .collect(),
        variables: VARIABLES.to_vec(),
    })
}
