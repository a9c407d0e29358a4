//! Plugins: `GET /v1/plugins` (the installed action plugins with their versions and config
//! schemas), and, for the operator entity's admins, `POST /v1/plugins` (install or replace a
//! component while the server runs) and `DELETE /v1/plugins/{name}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Operator, Principal};
use super::{AppState, store_error, to_completion};
use crate::app::InstallFailure;
use crate::app::audit::Change;
use crate::error::{ApiError, ErrorBody};
use crate::model::audit::AuditAction;
use crate::plugins::{InstallError, PluginOut};

/// The largest component an operator may upload (a Python component is about 18 MB).
const MAX_COMPONENT_BYTES: usize = 64 << 20;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, install))
        .routes(routes!(remove))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_COMPONENT_BYTES))
}

#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    responses(
        (status = 200, body = PluginsOut, description = "Installed action plugins with versions and config schemas"),
        (status = 401, body = ErrorBody),
    ),
)]
pub(super) async fn list(State(state): State<AppState>, principal: Principal) -> Json<PluginsOut> {
    // Where a component came from is a path on the server: the operator's to know.
    let operator = principal.role == crate::auth::Role::Admin && principal.entity.operator;
    let plugins = state
        .plugins
        .all()
        .iter()
        .map(|p| {
            let mut out = PluginOut::from(&**p);
            if !operator {
                out.source = None;
            }
            out
        })
        .collect();
    Json(PluginsOut { plugins })
}

/// `POST /v1/plugins`: what was installed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstalledOut {
    /// The plugin as installed.
    pub plugin: PluginOut,
    /// The version it replaced, when its name was installed already.
    pub replaced: Option<String>,
}

fn install_error(error: InstallError) -> ApiError {
    match error {
        InstallError::Builtin(_) => ApiError::Conflict(error.to_string()),
        InstallError::NotFound(_) => ApiError::NotFound(error.to_string()),
        InstallError::Io(_) => ApiError::Internal(error.into()),
    }
}

/// A WebAssembly component, as the body of `POST /v1/plugins`: documented as binary, so that
/// clients (and generated requests) send bytes, not a JSON array of numbers.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(
    dead_code,
    reason = "a documentation type: the handler takes the body as Bytes"
)]
pub(super) struct ComponentBytes(Vec<u8>);

/// Installs a component (the request body, `application/wasm`), or replaces the third-party
/// plugin of the same name. It is validated first (a component of the `herald:plugin` world, a
/// contract version this host supports, a description and a config schema that parse) and
/// compiled once; executions already running finish on the version they started with.
#[utoipa::path(
    post,
    path = "/v1/plugins",
    tag = "plugins",
    request_body(content = ComponentBytes, content_type = "application/wasm", description = "The component"),
    responses(
        (status = 201, body = InstalledOut, description = "Installed"),
        (status = 200, body = InstalledOut, description = "Replaced an installed version"),
        (status = 400, body = ErrorBody, description = "Not a valid plugin component (the reason says why)"),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The name is a built-in plugin's"),
        (status = 413, body = ErrorBody),
    ),
)]
pub(super) async fn install(
    State(state): State<AppState>,
    Operator(principal): Operator,
    body: Bytes,
) -> Result<(StatusCode, Json<InstalledOut>), ApiError> {
    // Run to the end: the store, this host and the automations must not part ways mid-install.
    let out = to_completion(async move {
        let (installed, replaced) = state.install_plugin(&body).await?;
        let out = InstalledOut {
            plugin: PluginOut::from(&*installed),
            replaced,
        };
        let change = Change::new(AuditAction::PluginInstalled, out.plugin.name.as_str());
        state.audit(&principal, change.after(&out)).await;
        Ok(out)
    })
    .await?;
    let status = match out.replaced {
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    Ok((status, Json(out)))
}

impl From<InstallFailure> for ApiError {
    fn from(failure: InstallFailure) -> Self {
        match failure {
            InstallFailure::Component(_) => ApiError::Invalid(failure.to_string()),
            InstallFailure::Install(error) => install_error(error),
            InstallFailure::Store(error) => store_error(error),
            InstallFailure::Reload(error) => ApiError::Internal(error),
        }
    }
}

/// Removes a third-party plugin; refused while automations use it.
#[utoipa::path(
    delete,
    path = "/v1/plugins/{name}",
    tag = "plugins",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A built-in, or automations use it (named in the message)"),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let users: Vec<String> = state
        .store
        .all_automations()
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|(_, automation)| automation.action.plugin == name)
        .map(|(_, automation)| format!("{}/{}", automation.entity, automation.name))
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "automations use {name}: {}",
            users.join(", ")
        )));
    }
    state.plugins.removable(&name).map_err(install_error)?;
    to_completion(async move {
        state
            .store
            .remove_plugin(&name)
            .await
            .map_err(store_error)?;
        match state.plugins.remove(&name) {
            // On PostgreSQL this host's own notice may have removed it already.
            Ok(_) | Err(InstallError::NotFound(_)) => {}
            Err(error) => return Err(install_error(error)),
        }
        tracing::info!(plugin = %name, "plugin removed");
        let change = Change::new(AuditAction::PluginRemoved, name);
        state.audit(&principal, change).await;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An installed action plugin.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginsOut {
    /// Every installed plugin.
    pub plugins: Vec<crate::plugins::PluginOut>,
}
