//! `GET /v1/openapi.json`: the OpenAPI 3.1 document, generated from the routes' annotations and
//! the body types themselves (utoipa), so it cannot drift from the code.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    AppState, automations, entities, events, executions, health, integrations, plugins, secrets,
};

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Events from ML projects and model registries trigger sandboxed WebAssembly actions."
    ),
    paths(
        health::health,
        health::metrics,
        plugins::list,
        entities::me,
        entities::create_entity,
        entities::list_keys,
        entities::create_key,
        entities::delete_key,
        secrets::list,
        secrets::set,
        secrets::remove,
        integrations::create,
        integrations::list,
        integrations::read,
        integrations::update,
        integrations::remove,
        automations::create,
        automations::list,
        automations::read,
        automations::update,
        automations::remove,
        automations::executions,
        events::ingest_one,
        events::ingest_batch,
        events::read,
        executions::read,
        executions::retry,
        integrations::test,
    ),
    components(schemas(crate::error::ErrorBody, crate::events::event::MetricValue, crate::events::event::SpecialFloat)),
    modifiers(&BearerKey),
    tags(
        (name = "events", description = "Post events; see what they triggered"),
        (name = "automations", description = "When an event happens and its conditions hold, run an action"),
        (name = "integrations", description = "Destinations: webhook, Slack, Teams, GitHub"),
        (name = "secrets", description = "Write-only values for credentials and templates"),
        (name = "entities", description = "Teams and their API keys"),
        (name = "executions", description = "What ran, attempt by attempt"),
        (name = "plugins", description = "Installed action plugins"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

/// Declares the `Authorization: Bearer <api key>` scheme the paths refer to.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .build(),
            ),
        );
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
