//! Automations: `POST/GET /v1/automations`, `GET/PATCH/DELETE /v1/automations/{id}`,
//! `GET /v1/automations/{id}/executions`. Every save is validated in full: definition, filter,
//! template, integration and the plugin's own `validate-config`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::executions::{ExecutionsOut, HistoryFilter};
use super::json::JsonBody;
use super::paging;
use super::{AppState, store_error, to_completion};
use crate::app::audit::Change;
use crate::automations::validate::{Refusal, validate};
use crate::automations::{Automation, AutomationInput, AutomationPatch, TriggerKind};
use crate::error::{ApiError, ErrorBody};
use crate::ids::AutomationId;
use crate::model::audit::AuditAction;
use crate::store::{AutomationFilter, now_rfc3339};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(executions))
}

/// Creates an automation; it matches from the next event on.
#[utoipa::path(
    post,
    path = "/v1/automations",
    tag = "automations",
    request_body = AutomationInput,
    responses(
        (status = 201, body = AutomationRow),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Another entity's (to the operator's admins: a key acts in its own entity only)"),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A plugin, integration, queue or job it names does not exist (`missing`), or the plugin refused the config"),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(input): JsonBody<AutomationInput>,
) -> Result<(StatusCode, Json<AutomationRow>), ApiError> {
    let entity = match &input.entity {
        Some(name) => principal.own_entity_named("entity", name)?.clone(),
        None => principal.entity.clone(),
    };
    let automation = input.into_automation(&entity.name, now_rfc3339());
    let compiled = validate(
        &state.store,
        &state.plugins,
        &state.engine,
        entity.id,
        automation,
    )
    .await?;
    let saved = to_completion(async move {
        let saved = state
            .store
            .insert_automation(entity.id, Automation::clone(&compiled.automation))
            .await
            .map_err(store_error)?;
        state.index.upsert(compiled);
        let row = AutomationRow::from(saved);
        let change =
            Change::new(AuditAction::AutomationCreated, row.automation.id.as_str()).after(&row);
        state.audit(&principal, change).await;
        Ok(row)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Query parameters of `GET /v1/automations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only this entity's (must be the key's; the default).
    pub entity: Option<String>,
    /// Only automations scoped to this project or registry.
    pub project: Option<String>,
    /// Only automations scoped to this collection.
    pub collection: Option<String>,
    /// At most this many, by name (default 100; more than 1000 reads 1000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The page after the one that answered this `next_cursor` (same filter).
    #[param(pattern = r"^([0-9a-f]{2}){1,1024}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/automations",
    tag = "automations",
    params(ListQuery),
    responses(
        (status = 200, description = "Automations with trigger_type, action_type, action_name and queue", body = AutomationsOut),
        (status = 403, body = ErrorBody, description = "Another entity's (to the operator's admins: a key acts in its own entity only)"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<AutomationsOut>, ApiError> {
    let entity = match &query.entity {
        Some(name) => principal.own_entity(name)?,
        None => &principal.entity,
    };
    let limit = paging::limit(query.limit, 100);
    let filter = AutomationFilter {
        project: query.project,
        collection: query.collection,
        after: query
            .cursor
            .as_deref()
            .map(paging::name_of_cursor)
            .transpose()?,
        limit: Some(limit + 1),
    };
    let automations = state
        .store
        .list_automations(entity.id, filter)
        .await
        .map_err(store_error)?;
    let (automations, has_more, next_cursor) =
        paging::page(automations, limit, |last| paging::name_cursor(&last.name));
    Ok(Json(AutomationsOut {
        automations: automations.into_iter().map(AutomationRow::from).collect(),
        has_more,
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/automations/{id}",
    tag = "automations",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = AutomationRow),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
) -> Result<Json<AutomationRow>, ApiError> {
    let automation = state
        .store
        .automation(principal.entity.id, &id)
        .await
        .map_err(store_error)?;
    Ok(Json(AutomationRow::from(automation)))
}

#[utoipa::path(
    patch,
    path = "/v1/automations/{id}",
    tag = "automations",
    params(("id" = String, Path)),
    request_body = AutomationPatch,
    responses(
        (status = 200, body = AutomationRow),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A plugin, integration, queue or job it names does not exist (`missing`), or the plugin refused the config"),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
    JsonBody(patch): JsonBody<AutomationPatch>,
) -> Result<Json<AutomationRow>, ApiError> {
    let entity_id = principal.entity.id;
    let current = state
        .store
        .automation(entity_id, &id)
        .await
        .map_err(store_error)?;
    let before = AutomationRow::from(current.clone());
    let mut next = current.patched(patch);
    next.updated_at = now_rfc3339();
    if current.rearmed_by(&next) {
        next.armed_at = next.updated_at.clone();
    }
    let compiled = validate(&state.store, &state.plugins, &state.engine, entity_id, next).await?;
    let saved = to_completion(async move {
        let saved = state
            .store
            .update_automation(entity_id, Automation::clone(&compiled.automation))
            .await
            .map_err(store_error)?;
        state.index.upsert(compiled);
        let row = AutomationRow::from(saved);
        let change = Change::new(AuditAction::AutomationUpdated, id.as_str())
            .before(&before)
            .after(&row);
        state.audit(&principal, change).await;
        Ok(row)
    })
    .await?;
    Ok(Json(saved))
}

#[utoipa::path(
    delete,
    path = "/v1/automations/{id}",
    tag = "automations",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted; its executions stay"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
) -> Result<StatusCode, ApiError> {
    let entity_id = principal.entity.id;
    let before = state
        .store
        .automation(entity_id, &id)
        .await
        .map_err(store_error)?;
    to_completion(async move {
        state
            .store
            .delete_automation(entity_id, &id)
            .await
            .map_err(store_error)?;
        state.index.remove(&id);
        let change = Change::new(AuditAction::AutomationDeleted, id.as_str())
            .before(&AutomationRow::from(before));
        state.audit(&principal, change).await;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/automations/{id}/executions",
    tag = "automations",
    params(
        ("id" = String, Path),
        HistoryFilter,
    ),
    responses(
        (status = 200, body = ExecutionsOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn executions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
    Query(filter): Query<HistoryFilter>,
) -> Result<Json<ExecutionsOut>, ApiError> {
    let mut query = filter.parse(Some(id.clone()))?;
    let limit = query.limit;
    query.limit += 1;
    let executions = state
        .store
        .executions(principal.entity.id, query)
        .await
        .map_err(store_error)?;
    // A deleted automation's history stays readable; an id that never existed here is a 404.
    if executions.is_empty() {
        state
            .store
            .automation(principal.entity.id, &id)
            .await
            .map_err(store_error)?;
    }
    Ok(Json(ExecutionsOut::page(&state, executions, limit)))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(message) => ApiError::Invalid(message),
            Refusal::Missing(message) => ApiError::Missing(message),
            Refusal::PluginRefused(message) => ApiError::PluginRefused(message),
            Refusal::Refused(message) => ApiError::Refused(message),
            Refusal::Store(error) => error.into(),
        }
    }
}

/// An automation as listed: its definition plus the summary columns of the automations view.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AutomationRow {
    /// The definition.
    #[serde(flatten)]
    pub automation: Automation,
    /// What triggers it.
    pub trigger_type: TriggerKind,
    /// The action's plugin.
    pub action_type: String,
    /// The integration it sends through, or the plugin's name when it takes none.
    pub action_name: String,
    /// The launch queue it enqueues on, if any.
    pub queue: Option<String>,
}

impl From<Automation> for AutomationRow {
    fn from(automation: Automation) -> Self {
        Self {
            trigger_type: automation.event.kind,
            action_type: automation.action.plugin.clone(),
            action_name: automation
                .action
                .integration
                .clone()
                .unwrap_or_else(|| automation.action.plugin.clone()),
            queue: automation.queue().map(str::to_string),
            automation,
        }
    }
}

/// `GET /v1/automations`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AutomationsOut {
    /// The automations that match the filters, by name.
    pub automations: Vec<AutomationRow>,
    /// Whether more match than this page holds.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` (with the same filter) for the next page.
    pub next_cursor: Option<String>,
}
