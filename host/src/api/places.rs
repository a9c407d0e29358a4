//! `GET /v1/places`: the projects, registries and collections an entity's automations and its
//! newest events name, so that forms suggest scopes that exist (and still take a name not seen
//! yet: an automation may be made before the first event of its project).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Principal;
use crate::automations::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::store::EventQuery;

/// The newest events read for names.
const EVENTS_READ: usize = 1000;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(places))
}

/// `GET /v1/places`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct PlacesOut {
    /// Project names, sorted.
    pub projects: Vec<String>,
    /// Registry names, sorted.
    pub registries: Vec<String>,
    /// Collections with the project or registry they are in, sorted.
    pub collections: Vec<CollectionOut>,
}

/// A collection (a registered model, in a registry) and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub(crate) struct CollectionOut {
    /// Its project, when it is in one.
    pub project: Option<String>,
    /// Its registry, when it is in one.
    pub registry: Option<String>,
    /// Its name.
    pub collection: String,
}

/// The names found, deduplicated as they are added.
#[derive(Default)]
struct Found {
    projects: BTreeSet<String>,
    registries: BTreeSet<String>,
    collections: BTreeSet<CollectionOut>,
}

impl Found {
    fn add(&mut self, project: Option<&str>, registry: Option<&str>, collection: Option<&str>) {
        if let Some(project) = project {
            self.projects.insert(project.to_string());
        }
        if let Some(registry) = registry {
            self.registries.insert(registry.to_string());
        }
        if let Some(collection) = collection {
            self.collections.insert(CollectionOut {
                project: project.map(str::to_string),
                registry: registry.map(str::to_string).filter(|_| project.is_none()),
                collection: collection.to_string(),
            });
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/places",
    tag = "automations",
    responses(
        (status = 200, body = PlacesOut, description = "The projects, registries and collections the entity's automations and its newest 1,000 events name"),
        (status = 401, body = ErrorBody),
    ),
)]
pub(super) async fn places(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PlacesOut>, ApiError> {
    let mut found = Found::default();
    for compiled in state.index.of_entity(principal.entity.id) {
        match &compiled.automation.scope {
            Scope::Entity => {}
            Scope::Project { project } => found.add(Some(project), None, None),
            Scope::Registry { registry } => found.add(None, Some(registry), None),
            Scope::Collection {
                project,
                registry,
                collection,
            } => found.add(project.as_deref(), registry.as_deref(), Some(collection)),
        }
    }
    let query = EventQuery {
        limit: EVENTS_READ,
        ..EventQuery::default()
    };
    for summary in state.store.events_page(principal.entity.id, query).await? {
        let text = |field: &str| summary.event.get(field).and_then(Value::as_str);
        found.add(text("project"), text("registry"), text("collection"));
    }
    Ok(Json(PlacesOut {
        projects: found.projects.into_iter().collect(),
        registries: found.registries.into_iter().collect(),
        collections: found.collections.into_iter().collect(),
    }))
}
