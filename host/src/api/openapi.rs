//! `GET /v1/openapi.json`: the OpenAPI 3.1 document. Each route is registered once, with its
//! annotation (utoipa-axum), so the document lists exactly the routes served, with the body types
//! the handlers return.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Events from ML projects and model registries trigger sandboxed WebAssembly actions."
    ),
    components(schemas(
        crate::error::ErrorBody,
        crate::events::event::MetricValue,
        crate::events::event::SpecialFloat,
        crate::automations::metric::ThresholdIn,
        crate::automations::metric::ChangeIn,
        crate::automations::metric::ZScoreIn,
    )),
    tags(
        (name = "events", description = "Post events; see what they triggered"),
        (name = "automations", description = "When an event happens and its conditions hold, run an action"),
        (name = "integrations", description = "Destinations: webhook, Slack, Teams, GitHub"),
        (name = "secrets", description = "Write-only values for credentials and templates"),
        (name = "entities", description = "Teams and their API keys"),
        (name = "executions", description = "What ran, attempt by attempt"),
        (name = "tasks", description = "Background recovers and bulk retries, and how far they got"),
        (name = "audit", description = "Who changed what, when: the entity's configuration history"),
        (name = "plugins", description = "Installed action plugins"),
        (name = "launch", description = "Jobs, queues and the items agents run"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

/// Declares the `Authorization: Bearer <api key>` scheme, and that every operation needs it
/// unless its annotation says `security(())` (health and metrics).
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.security = Some(vec![SecurityRequirement::new("api_key", [""; 0])]);
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

/// Documents the answers every operation of a kind can give, so that no operation leaves them
/// out: 401 for those that take a key, 400 and 413 for those that take a body or a query, and
/// 503 (storage unavailable) for everything under `/v1`.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Response, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| -> RefOr<Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let answers = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    answers
                        .entry(status.to_string())
                        .or_insert_with(|| error(description));
                };
                // No `security` of its own: the document's default, a key.
                let takes_key = operation.security.as_ref().is_none_or(|requirements| {
                    requirements
                        .iter()
                        .any(|r| serde_json::to_value(r).is_ok_and(|v| v != serde_json::json!({})))
                });
                if takes_key {
                    add("401", "No key, or a key that is not valid");
                }
                let has_query = operation.parameters.as_ref().is_some_and(|params| {
                    params.iter().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    })
                });
                let has_path = path.contains('{');
                if operation.request_body.is_some() || has_query || has_path {
                    add(
                        "400",
                        "The request is not valid (the message names the field)",
                    );
                }
                if operation.request_body.is_some() {
                    add("413", "The body is too large");
                }
                if path.contains("{entity}") {
                    add(
                        "403",
                        "Not allowed to this key: its role, or (for the operator's admins) another entity",
                    );
                }
                if path.starts_with("/v1/") {
                    add(
                        "503",
                        "Storage is unavailable; retry after `Retry-After` seconds",
                    );
                }
            }
        }
    }
}

/// Tagged enums whose variants take no other fields (serde's `deny_unknown_fields`), which
/// utoipa documents without `additionalProperties: false` on each variant.
const CLOSED_UNIONS: [&str; 1] = ["Scope"];

/// Says of each variant of a [`CLOSED_UNIONS`] schema that it takes no other fields, as the
/// server does.
struct ClosedUnions;

impl Modify for ClosedUnions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in CLOSED_UNIONS {
            let Some(RefOr::T(Schema::OneOf(union))) = components.schemas.get_mut(name) else {
                continue;
            };
            for variant in &mut union.items {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// Splits the documented routes into the router and the finished document, and serves the
/// document at `/v1/openapi.json`.
pub(super) fn serve(routes: OpenApiRouter<AppState>) -> Router<AppState> {
    let (router, mut document) = routes.split_for_parts();
    // After the routes are in: the modifiers look at every operation.
    BearerKey.modify(&mut document);
    ClosedUnions.modify(&mut document);
    CommonAnswers.modify(&mut document);
    // Rendered once: the document does not change while the server runs.
    let mut document = serde_json::to_value(&document).expect("the OpenAPI document serialises");
    super::shapes::apply(&mut document);
    super::links::apply(&mut document);
    let text = axum::body::Bytes::from(document.to_string());
    router.route(
        "/v1/openapi.json",
        get(move || {
            let text = text.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    text,
                )
            }
        }),
    )
}

/// The routers every documented route comes from, with the document's info and tags.
pub(super) fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}
