//! Integrations: `POST/GET /v1/entities/{entity}/integrations`, `GET/PATCH/DELETE …/{name}`,
//! and `POST …/{name}/test` (send a payload like a real delivery). Members read; admins write.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Principal};
use super::json::JsonBody;
use super::out::{IntegrationOut, IntegrationsOut, TestOut};
use super::{AppState, check_action_config, store_error};
use crate::automations::grants::usable_secrets;
use crate::delivery::attempt::{Reach, execute};
use crate::delivery::credentials::Unrunnable;
use crate::delivery::integration::IntegrationKind;
use crate::delivery::record::attempt_record;
use crate::delivery::verdict::verdict;
use crate::engine::Invocation;
use crate::error::{ApiError, ErrorBody};
use crate::events::template::{Resolved, Template};
use crate::events::variables::is_variable;
use crate::store::{IntegrationRecord, now_rfc3339};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(test))
        .routes(routes!(read, update, remove))
}

/// The body of `POST …/integrations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
}

/// The body of `PATCH …/integrations/{name}`: any subset; `null` clears a secret.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks every field of an integration against the rules and the entity's secrets.
async fn check(
    state: &AppState,
    entity_id: i64,
    record: &IntegrationRecord,
) -> Result<(), ApiError> {
    if !valid_name(&record.name) {
        return Err(ApiError::Invalid(format!(
            "name: {:?} must be 1-128 letters, digits, `-`, `_` or `.`",
            record.name
        )));
    }
    match (record.url.is_empty(), &record.url_secret) {
        (false, None) => {
            state
                .egress
                .check_url(&record.url)
                .map_err(|m| ApiError::Invalid(format!("url: {m}")))?;
        }
        (true, Some(secret)) => {
            let sealed = state
                .store
                .sealed_secrets(entity_id, vec![secret.clone()])
                .await
                .map_err(store_error)?;
            let Some((name, nonce, ciphertext)) = sealed.into_iter().next() else {
                return Err(ApiError::Invalid(format!(
                    "url_secret: no secret named {secret} (create it first)"
                )));
            };
            let value = state
                .master_key
                .open(entity_id, &name, &nonce, &ciphertext)
                .map_err(ApiError::Internal)?;
            // The message must not echo the value: it is a credential.
            state
                .egress
                .check_url(&value)
                .map_err(|_| ApiError::Invalid(format!("url_secret: the value of {secret} is not an allowed http(s) URL with a DNS name")))?;
        }
        _ => {
            return Err(ApiError::Invalid(
                "url: give exactly one of url and url_secret".into(),
            ));
        }
    }
    let existing: Vec<String> = state
        .store
        .secret_names(entity_id)
        .await
        .map_err(store_error)?;
    for (field, secret) in [
        ("access_token", &record.access_token),
        ("signing_secret", &record.signing_secret),
    ] {
        if let Some(secret) = secret
            && !existing.contains(secret)
        {
            return Err(ApiError::Invalid(format!(
                "{field}: no secret named {secret} (create it first)"
            )));
        }
    }
    for (index, secret) in record.secrets.iter().enumerate() {
        if !existing.contains(secret) {
            return Err(ApiError::Invalid(format!(
                "secrets[{index}]: no secret named {secret} (create it first)"
            )));
        }
        if record.secrets[..index].contains(secret) {
            return Err(ApiError::Invalid(format!(
                "secrets[{index}]: {secret} is listed twice"
            )));
        }
    }
    Ok(())
}

/// Refuses a change to an integration that would leave a template of one of its automations
/// referencing a secret the integration no longer lets it use (Conflict, naming them).
async fn check_still_granted(
    state: &AppState,
    entity_id: i64,
    old_name: &str,
    record: &IntegrationRecord,
) -> Result<(), ApiError> {
    let automations = state
        .store
        .list_automations(entity_id, Default::default())
        .await
        .map_err(store_error)?;
    let mut broken = Vec::new();
    for automation in automations
        .iter()
        .filter(|a| a.action.integration.as_deref() == Some(old_name))
    {
        let default = state
            .plugins
            .get(&automation.action.plugin)
            .and_then(|p| p.info.default_payload.clone());
        for secret in crate::automations::grants::referenced_secrets(automation, default.as_deref())
        {
            if !record.may_use(&secret) {
                broken.push(format!("{} (uses {secret})", automation.name));
            }
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "secrets: automations still reference secrets this change would stop granting: {}",
        broken.join(", ")
    )))
}

#[utoipa::path(post, path = "/v1/entities/{entity}/integrations", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path)), request_body = NewIntegration, responses((status = 201, body = IntegrationOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(principal): Admin,
    JsonBody(body): JsonBody<NewIntegration>,
) -> Result<(StatusCode, Json<IntegrationOut>), ApiError> {
    let entity = &principal.entity;
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
    };
    check(&state, entity.id, &record).await?;
    let record = state
        .store
        .create_integration(entity.id, record)
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

#[utoipa::path(get, path = "/v1/entities/{entity}/integrations", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path)), responses((status = 200, body = IntegrationsOut), (status = 404, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<IntegrationsOut>, ApiError> {
    let entity = &principal.entity;
    let integrations = state
        .store
        .list_integrations(entity.id)
        .await
        .map_err(store_error)?;
    let integrations = integrations.into_iter().map(Into::into).collect();
    Ok(Json(IntegrationsOut { integrations }))
}

#[utoipa::path(get, path = "/v1/entities/{entity}/integrations/{name}", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path), ("name" = String, Path)), responses((status = 200, body = IntegrationOut), (status = 404, body = ErrorBody)))]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<IntegrationOut>, ApiError> {
    let entity = &principal.entity;
    Ok(Json(
        state
            .store
            .integration(entity.id, &name)
            .await
            .map_err(store_error)?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/v1/entities/{entity}/integrations/{name}", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path), ("name" = String, Path)), request_body = IntegrationPatch, responses((status = 200, body = IntegrationOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(patch): JsonBody<IntegrationPatch>,
) -> Result<Json<IntegrationOut>, ApiError> {
    let entity = &principal.entity;
    let mut record = state
        .store
        .integration(entity.id, &name)
        .await
        .map_err(store_error)?;
    let renamed = patch.name.as_ref().is_some_and(|new| *new != record.name);
    if renamed
        && !state
            .store
            .list_automations(entity.id, Default::default())
            .await
            .map_err(store_error)?
            .iter()
            .all(|a| a.action.integration.as_deref() != Some(name.as_str()))
    {
        return Err(ApiError::Conflict(format!(
            "integration {name} is used by automations; it cannot be renamed"
        )));
    }
    if let Some(new) = patch.name {
        record.name = new;
    }
    if let Some(kind) = patch.kind {
        record.kind = kind;
    }
    if let Some(url) = patch.url {
        record.url = url;
        record.url_secret = None;
    }
    if let Some(secret) = patch.url_secret {
        record.url_secret = Some(secret);
        record.url = String::new();
    }
    if let Some(token) = patch.access_token {
        record.access_token = token;
    }
    if let Some(secret) = patch.signing_secret {
        record.signing_secret = secret;
    }
    if let Some(secrets) = patch.secrets {
        record.secrets = secrets;
    }
    record.updated_at = now_rfc3339();
    check(&state, entity.id, &record).await?;
    check_still_granted(&state, entity.id, &name, &record).await?;
    Ok(Json(
        state
            .store
            .update_integration(entity.id, record)
            .await
            .map_err(store_error)?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/v1/entities/{entity}/integrations/{name}", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path), ("name" = String, Path)), responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Automations use it (named in the message)")))]
pub(super) async fn remove(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let entity = &principal.entity;
    state
        .store
        .delete_integration(entity.id, &name)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST …/integrations/{name}/test`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TestRequest {
    /// The payload to send, as a template: `${SECRET}` references are resolved; event variables
    /// are empty (there is no event). Default: `{"test": true}`.
    #[serde(default = "default_test_payload")]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The plugin that sends it: any installed plugin that takes this integration's kind.
    /// Default: the built-in one for the kind (`webhook`, `slack`, `teams`, `github-dispatch`).
    #[serde(default)]
    pub plugin: Option<String>,
    /// The plugin's action config (checked like an automation's). Default `{}`.
    #[serde(default = "empty_config")]
    #[schema(value_type = Object)]
    pub config: Value,
}

fn empty_config() -> Value {
    json!({})
}

fn default_test_payload() -> Value {
    json!({"test": true})
}

/// What an empty event variable renders as.
static NOTHING: Value = Value::Null;

#[utoipa::path(post, path = "/v1/entities/{entity}/integrations/{name}/test", tag = "integrations", security(("api_key" = [])), params(("entity" = String, Path), ("name" = String, Path)), request_body = TestRequest, responses((status = 200, body = TestOut, description = "The receiver's status, headers and body, or why nothing was sent; the request as sent, secrets redacted"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn test(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<TestRequest>,
) -> Result<Json<TestOut>, ApiError> {
    let entity = &principal.entity;
    let integration = state.store.integration(entity.id, &name).await?;
    // The integration's own plugin sends the test, as an automation's delivery would.
    let takes_kind = |p: &std::sync::Arc<crate::engine::Plugin>| {
        integration.kind.served_by(&p.info.integration_kinds)
    };
    let plugin = match &body.plugin {
        Some(wanted) => state
            .plugins
            .get(wanted)
            .filter(takes_kind)
            .ok_or_else(|| {
                ApiError::Invalid(format!(
                    "plugin: no installed plugin {wanted:?} takes {} integrations",
                    integration.kind
                ))
            })?,
        None => state
            .plugins
            .all()
            .into_iter()
            .find(|p| p.source == "builtin" && takes_kind(p))
            .ok_or_else(|| {
                ApiError::Invalid(format!(
                    "no built-in plugin takes {} integrations",
                    integration.kind
                ))
            })?,
    };
    check_action_config(&state, &plugin, "config", &body.config).await?;
    if !body.payload.is_object() {
        return Err(ApiError::Invalid("payload: must be a JSON object".into()));
    }
    let template =
        Template::parse(body.payload).map_err(|e| ApiError::Invalid(format!("payload: {e}")))?;
    // What a real delivery through this integration could send, and no more.
    template
        .check_names(&usable_secrets(Some(&integration)), Some(&name))
        .map_err(|e| ApiError::Invalid(format!("payload: {e}")))?;
    let id = crate::auth::random_id("test_");
    let tag = state.master_key.refs().tag(&id);
    let payload = template
        .render(&tag, |name| {
            Some(if is_variable(name) {
                Resolved::Variable(&NOTHING)
            } else {
                Resolved::Secret
            })
        })
        .map_err(|e| ApiError::TooLarge(format!("payload: {e}")))?
        .to_string();
    let deliverer = state.deliverer();
    let (credentials, redactor) = deliverer
        .credentials(entity.id, &name, tag.names_in(&payload))
        .await
        .map_err(|Unrunnable(reason)| ApiError::Invalid(reason))?;
    let invocation = Invocation {
        execution_id: id.clone(),
        attempt: 1,
        automation_name: format!("test of {name}"),
        event_type: "TEST".into(),
        variables: "{}".into(),
        payload: Some(payload),
        config: body.config.to_string(),
        integration_url: None,
    };
    let granted = state
        .grants
        .get(&plugin.info.name)
        .cloned()
        .unwrap_or_default();
    let reach = Reach {
        credentials: Some(credentials),
        granted,
        refs: tag,
        transport: state.transport.clone(),
        // A test enqueues nothing: the plugin is told launch queues are not available here.
        launcher: None,
        redactor: redactor.clone(),
    };
    let report = execute(&state.engine, &plugin, invocation, reach).await;
    let verdict = verdict(&report).redacted(&redactor);
    let record = serde_json::to_value(attempt_record(
        1,
        std::time::SystemTime::now(),
        &report,
        &verdict,
        &redactor,
    ))
    .map_err(|e| ApiError::Internal(e.into()))?;
    let request = record["requests"].get(0).cloned().unwrap_or(Value::Null);
    Ok(Json(TestOut {
        sent: !request["response"].is_null(),
        response: request["response"].clone(),
        error: match (&request["error"], request.is_null()) {
            (Value::Null, false) => Value::Null,
            (error, false) => error.clone(),
            (_, true) => json!({"class": record["error_class"], "message": record["message"]}),
        },
        request: json!({
            "method": request["method"],
            "url": request["url"],
            "headers": request["headers"],
            "body": request["body"],
        }),
        duration_ms: request["duration_ms"].clone(),
    }))
}
