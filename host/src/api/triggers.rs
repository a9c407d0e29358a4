//! `GET /v1/triggers`: what automations and events are built from — the kinds of scope with the
//! event kinds each accepts, every event kind's label, the fields of each event type clients
//! post, and the variables a payload template may use — so that the console and the Python
//! client offer only what the server accepts, from the same tables the server validates with.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Principal;
use crate::automations::{ScopeKind, TriggerKind};
use crate::error::ErrorBody;
use crate::events::{EventType, VARIABLES, VariableDoc};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(catalog))
}

/// `GET /v1/triggers`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CatalogOut {
    /// Each kind of scope with the event kinds it accepts.
    pub scopes: Vec<ScopeOut>,
    /// Every event kind an automation may wait for, with its label.
    pub triggers: Vec<TriggerOut>,
    /// Every event type clients post, with its fields.
    pub events: Vec<EventTypeOut>,
    /// Every template variable, besides `artifact_metadata.KEY` (an artifact's metadata value)
    /// and the entity's secrets (`${NAME}`).
    pub variables: Vec<VariableOut>,
}

/// A template variable.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VariableOut {
    /// The name, as written in `${name}`.
    pub name: &'static str,
    /// Which events set it, in words (on the others it is `""`).
    pub set_by: &'static str,
    /// The event types that set it.
    pub event_types: Vec<EventType>,
    /// What it holds.
    pub about: &'static str,
}

impl From<&VariableDoc> for VariableOut {
    fn from(doc: &VariableDoc) -> Self {
        Self {
            name: doc.name,
            set_by: doc.set_by.label(),
            event_types: doc.set_by.event_types(),
            about: doc.about,
        }
    }
}

/// A kind of scope.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScopeOut {
    /// The kind.
    pub scope: ScopeKind,
    /// The kind as a form offers it.
    pub label: &'static str,
    /// The event kinds an automation in it may wait for.
    pub event_types: Vec<TriggerKind>,
}

/// An event kind an automation may wait for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerOut {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// What it waits for, as a form offers it.
    pub label: &'static str,
    /// The type of the events it waits for (`RUN_METRIC` for the metric conditions).
    pub event_type: EventType,
}

/// An event type clients post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventTypeOut {
    /// The type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Its fields besides `type` and `entity`, in the order a form asks for them; an artifact
    /// event listing both `project` and `registry` carries one of them.
    pub fields: &'static [&'static str],
}

/// What automations and events may be built from.
#[utoipa::path(
    get,
    path = "/v1/triggers",
    tag = "automations",
    responses(
        (status = 200, body = CatalogOut, description = "The kinds of scope and the event kinds each accepts, event types with their fields, and the template variables"),
        (status = 401, body = ErrorBody),
    ),
)]
pub(super) async fn catalog(_principal: Principal) -> Json<CatalogOut> {
    Json(CatalogOut {
        scopes: ScopeKind::ALL
            .iter()
            .map(|&scope| ScopeOut {
                scope,
                label: scope.label(),
                event_types: scope.triggers().to_vec(),
            })
            .collect(),
        triggers: TriggerKind::ALL
            .iter()
            .map(|&kind| TriggerOut {
                kind,
                label: kind.label(),
                event_type: kind.event_type(),
            })
            .collect(),
        events: EventType::ALL
            .iter()
            .map(|&kind| EventTypeOut {
                kind,
                fields: kind.fields(),
            })
            .collect(),
        variables: VARIABLES.iter().map(VariableOut::from).collect(),
    })
}
