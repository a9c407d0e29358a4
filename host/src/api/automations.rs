//! Automations: `POST/GET /v1/automations`, `GET/PATCH/DELETE /v1/automations/{id}`,
//! `GET /v1/automations/{id}/executions`. Every save is validated in full: definition, filter,
//! template, integration and the plugin's own `validate-config`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::executions::HistoryQuery;
use super::json::JsonBody;
use super::out::{AutomationRow, AutomationsOut, ExecutionsOut};
use super::{AppState, check_action_config, shown, store_error, to_completion};
use crate::automations::grants::usable_secrets;
use crate::automations::index::Compiled;
use crate::automations::{Automation, AutomationInput, AutomationPatch, check_definition, compile};
use crate::error::{ApiError, ErrorBody};
use crate::ids::AutomationId;
use crate::store::{AutomationFilter, now_rfc3339};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(executions))
}

/// Every check an automation must pass before it is saved.
async fn validate(
    state: &AppState,
    entity_id: i64,
    automation: Automation,
) -> Result<Compiled, ApiError> {
    check_definition(&automation).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let plugin_name = automation.action.plugin.clone();
    let Some(plugin) = state.plugins.get(&plugin_name) else {
        let installed: Vec<String> = state
            .plugins
            .all()
            .iter()
            .map(|p| p.info.name.clone())
            .collect();
        return Err(ApiError::Invalid(format!(
            "action.type: no plugin named {plugin_name:?} (installed: {})",
            installed.join(", ")
        )));
    };
    let compiled = compile(
        entity_id,
        automation,
        plugin.info.default_payload.as_deref(),
    )
    .map_err(ApiError::Invalid)?;
    let automation = &compiled.automation;
    let action = &automation.action;
    let kinds = &plugin.info.integration_kinds;
    let mut bound = None;
    match (&action.integration, kinds.is_empty()) {
        (None, false) => {
            return Err(ApiError::Invalid(format!(
                "action.integration: the {} action needs an integration of kind {}",
                action.plugin,
                kinds.join(" or ")
            )));
        }
        (Some(_), true) => {
            return Err(ApiError::Invalid(format!(
                "action.integration: the {} action takes no integration",
                action.plugin
            )));
        }
        (Some(name), false) => {
            let integration =
                state
                    .store
                    .integration(entity_id, name)
                    .await
                    .map_err(|e| match e {
                        crate::store::StoreError::NotFound(_) => ApiError::Invalid(format!(
                            "action.integration: no integration named {name}"
                        )),
                        other => store_error(other),
                    })?;
            if !integration.kind.served_by(kinds) {
                return Err(ApiError::Invalid(format!(
                    "action.integration: {name} is a {} integration; the {} action sends through {}",
                    integration.kind,
                    action.plugin,
                    kinds.join(" or ")
                )));
            }
            bound = Some(integration);
        }
        (None, true) => {}
    }
    if let Some(template) = &compiled.template {
        // Only the secrets the bound integration grants: whoever saves the automation (a member
        // too) can send a secret only where an admin chose to.
        template
            .check_names(
                &usable_secrets(bound.as_ref()),
                action.integration.as_deref(),
            )
            .map_err(|e| ApiError::Invalid(format!("action.payload: {e}")))?;
    }
    if !action.config.is_object() {
        return Err(ApiError::Invalid(
            "action.config: must be a JSON object".into(),
        ));
    }
    check_action_config(state, &plugin, "action.config", &action.config).await?;
    if action.plugin == LAUNCH_JOB {
        check_launch(state, entity_id, &action.config).await?;
    }
    Ok(compiled)
}

/// The built-in action that enqueues launch jobs: its queue, job and override keys are checked
/// against the entity's queues and jobs when the automation is saved (at execution too, since
/// either may change later).
const LAUNCH_JOB: &str = "launch-job";

async fn check_launch(
    state: &AppState,
    entity_id: i64,
    config: &serde_json::Value,
) -> Result<(), ApiError> {
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_string();
    let missing = |field: &'static str| {
        move |e: crate::store::StoreError| match e {
            crate::store::StoreError::NotFound(what) => {
                ApiError::Invalid(format!("action.config.{field}: {what} not found"))
            }
            other => store_error(other),
        }
    };
    state
        .store
        .queue(entity_id, &text("queue"))
        .await
        .map_err(missing("queue"))?;
    let job = crate::launch::JobRef::parse(&text("job"))
        .map_err(|e| ApiError::Invalid(format!("action.config.job: {e}")))?;
    let job = state
        .store
        .job(entity_id, &job)
        .await
        .map_err(missing("job"))?;
    let overrides = config["overrides"].as_object().cloned().unwrap_or_default();
    crate::launch::merge_config(&job.spec.config, &overrides)
        .map_err(|e| ApiError::Invalid(format!("action.config.{e}")))?;
    Ok(())
}

/// Creates an automation; it matches from the next event on.
#[utoipa::path(post, path = "/v1/automations", tag = "automations", security(("api_key" = [])), request_body = AutomationInput, responses((status = 201, body = AutomationRow), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody, description = "The plugin refused the config")))]
pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(input): JsonBody<AutomationInput>,
) -> Result<(StatusCode, Json<AutomationRow>), ApiError> {
    let entity = match &input.entity {
        Some(name) => principal.own_entity(name)?.clone(),
        None => principal.entity.clone(),
    };
    let now = now_rfc3339();
    let automation = Automation {
        id: crate::ids::AutomationId::generate(),
        entity: entity.name.clone(),
        name: input.name,
        description: input.description,
        enabled: input.enabled,
        scope: input.scope,
        event: input.event,
        action: input.action,
        rate_limit: input.rate_limit,
        created_at: now.clone(),
        updated_at: now.clone(),
        armed_at: now,
    };
    let compiled = validate(&state, entity.id, automation).await?;
    let saved = to_completion(async move {
        let saved = state
            .store
            .insert_automation(entity.id, Automation::clone(&compiled.automation))
            .await
            .map_err(store_error)?;
        state.index.upsert(compiled);
        Ok(saved)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(AutomationRow::from(saved))))
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
}

#[utoipa::path(get, path = "/v1/automations", tag = "automations", security(("api_key" = [])), params(ListQuery), responses((status = 200, description = "Automations with trigger_type, action_type, action_name and queue", body = AutomationsOut), (status = 404, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<AutomationsOut>, ApiError> {
    let entity = match &query.entity {
        Some(name) => principal.own_entity(name)?,
        None => &principal.entity,
    };
    let filter = AutomationFilter {
        project: query.project,
        collection: query.collection,
    };
    let automations = state
        .store
        .list_automations(entity.id, filter)
        .await
        .map_err(store_error)?;
    Ok(Json(AutomationsOut {
        automations: automations.into_iter().map(AutomationRow::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/automations/{id}", tag = "automations", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 200, body = AutomationRow), (status = 404, body = ErrorBody)))]
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

#[utoipa::path(patch, path = "/v1/automations/{id}", tag = "automations", security(("api_key" = [])), params(("id" = String, Path)), request_body = AutomationPatch, responses((status = 200, body = AutomationRow), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
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
    let mut next = current.patched(patch);
    next.updated_at = now_rfc3339();
    if current.rearmed_by(&next) {
        next.armed_at = next.updated_at.clone();
    }
    let compiled = validate(&state, entity_id, next).await?;
    let saved = to_completion(async move {
        let saved = state
            .store
            .update_automation(entity_id, Automation::clone(&compiled.automation))
            .await
            .map_err(store_error)?;
        state.index.upsert(compiled);
        Ok(saved)
    })
    .await?;
    Ok(Json(AutomationRow::from(saved)))
}

#[utoipa::path(delete, path = "/v1/automations/{id}", tag = "automations", security(("api_key" = [])), params(("id" = String, Path)), responses((status = 204, description = "Deleted; its executions stay"), (status = 404, body = ErrorBody)))]
pub(super) async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
) -> Result<StatusCode, ApiError> {
    let entity_id = principal.entity.id;
    to_completion(async move {
        state
            .store
            .delete_automation(entity_id, &id)
            .await
            .map_err(store_error)?;
        state.index.remove(&id);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/automations/{id}/executions", tag = "automations", security(("api_key" = [])), params(("id" = String, Path), HistoryQuery), responses((status = 200, body = ExecutionsOut), (status = 404, body = ErrorBody)))]
pub(super) async fn executions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<AutomationId>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<ExecutionsOut>, ApiError> {
    if query.automation.is_some() {
        return Err(ApiError::Invalid(
            "automation: the path names the automation already".into(),
        ));
    }
    let query = HistoryQuery {
        automation: Some(id.clone()),
        ..query
    }
    .parse()?;
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
    let executions = executions.into_iter().map(|e| shown(&state, e)).collect();
    Ok(Json(ExecutionsOut { executions }))
}
