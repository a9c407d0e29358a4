//! Background tasks: `POST /v1/entities/{entity}/integrations/{name}/recover` (admins: every
//! execution through the integration that failed in a window, queued again) and
//! `POST /v1/executions/retry` (executions chosen by automation, status, time and the class of
//! their last answer) start one; `GET /v1/tasks` and `GET /v1/tasks/{id}` show how far it got.
//! With the same `Idempotency-Key`, a request sent again names the same task.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Admin, Principal};
use super::json::JsonBody;
use crate::app::audit::Change;
use crate::error::{ApiError, ErrorBody};
use crate::ids::{AutomationId, TaskId};
use crate::model::audit::AuditAction;
use crate::model::execution::ExecutionStatus;
use crate::model::task::{CodeClass, Selection, TaskKind, TaskStatus};
use crate::store::{NewTask, TaskRecord};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recover))
        .routes(routes!(retry_many))
        .routes(routes!(list))
        .routes(routes!(read))
}

/// The body of `POST …/integrations/{name}/recover`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RecoverIn {
    /// From this instant (RFC 3339): executions created then or later.
    #[schema(format = DateTime)]
    pub since: String,
    /// Until this instant (RFC 3339, at most 14 days after `since`); default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

/// A status a bulk retry may choose (a finished one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum FinishedStatus {
    /// Failed for good.
    Failed,
    /// Delivered.
    Succeeded,
    /// Over its rate limit.
    Skipped,
}

impl From<FinishedStatus> for ExecutionStatus {
    fn from(status: FinishedStatus) -> Self {
        match status {
            FinishedStatus::Failed => Self::Failed,
            FinishedStatus::Succeeded => Self::Succeeded,
            FinishedStatus::Skipped => Self::Skipped,
        }
    }
}

/// The body of `POST /v1/executions/retry`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryIn {
    /// From this instant (RFC 3339): executions created then or later.
    #[schema(format = DateTime)]
    pub since: String,
    /// Until this instant (RFC 3339, at most 14 days after `since`); default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub until: Option<String>,
    /// Only executions of this automation (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub automation: Option<AutomationId>,
    /// Only executions in these states; default `["failed"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub statuses: Option<Vec<FinishedStatus>>,
    /// Only executions whose last answer was `4xx`, `5xx`, or `none` (no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_class: Option<CodeClass>,
}

/// A background task and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskOut {
    /// Its id.
    #[schema(value_type = String)]
    pub id: TaskId,
    /// `recover` or `retry`.
    pub kind: TaskKind,
    /// `running` or `succeeded`.
    pub status: TaskStatus,
    /// The request that made it (the integration's name included, for a recover).
    #[schema(value_type = Object)]
    pub request: Value,
    /// Executions of the window looked at so far.
    pub scanned: i64,
    /// Executions queued again so far.
    pub requeued: i64,
    /// The id of the key that asked for it.
    pub created_by: String,
    /// When it was asked for.
    pub created_at: String,
    /// When it last progressed.
    pub updated_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

impl From<crate::tasks::WindowError> for ApiError {
    fn from(error: crate::tasks::WindowError) -> Self {
        match error {
            crate::tasks::WindowError::Invalid(message) => ApiError::Invalid(message),
            crate::tasks::WindowError::Refused(message) => ApiError::Refused(message),
        }
    }
}

impl From<TaskRecord> for TaskOut {
    fn from(task: TaskRecord) -> Self {
        Self {
            id: task.id,
            kind: task.kind,
            status: task.status,
            request: serde_json::from_str(&task.request).unwrap_or(Value::Null),
            scanned: task.scanned,
            requeued: task.requeued,
            created_by: task.created_by,
            created_at: task.created_at,
            updated_at: task.updated_at,
            finished_at: task.finished_at,
        }
    }
}

/// `GET /v1/tasks`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TasksOut {
    /// Newest first.
    pub tasks: Vec<TaskOut>,
    /// Whether more exist than this page holds.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// How many tasks `GET /v1/tasks` lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TaskQuery {
    /// At most this many, newest first (default 50; more than 1000 reads 1000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The page after the one that answered this `next_cursor`.
    #[param(pattern = r"^task_[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// Starts the task (or finds the one the same `Idempotency-Key` started) and wakes the runner.
async fn start(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    kind: TaskKind,
    request: Value,
    selection: Selection,
) -> Result<(StatusCode, Json<TaskOut>), ApiError> {
    let task = NewTask {
        id: TaskId::generate(),
        kind,
        request: request.to_string(),
        selection,
        idempotency_key: super::events::idempotency_key(headers)?,
        created_by: principal.key_id.clone(),
    };
    let (task, created) = state.store.create_task(principal.entity.id, task).await?;
    state.tasks.notify_one();
    let out = TaskOut::from(task);
    if created {
        let change = match kind {
            TaskKind::Recover => {
                let integration = out.request["integration"].as_str().unwrap_or_default();
                Change::new(AuditAction::IntegrationRecovered, integration)
            }
            TaskKind::Retry => Change::new(AuditAction::ExecutionsRetried, out.id.as_str()),
        };
        state.audit(principal, change.after(&out)).await;
    }
    Ok((StatusCode::ACCEPTED, Json(out)))
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/integrations/{name}/recover",
    tag = "integrations",
    params(
        ("entity" = String, Path),
        ("name" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key names the same task"),
    ),
    request_body = RecoverIn,
    responses(
        (status = 202, body = TaskOut, description = "A task queues again every execution through the integration that failed in the window; follow it at GET /v1/tasks/{id}"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The window is empty or wider than 14 days (`refused`)"),
    ),
)]
pub(super) async fn recover(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RecoverIn>,
) -> Result<(StatusCode, Json<TaskOut>), ApiError> {
    state.store.integration(principal.entity.id, &name).await?;
    let (from, until) = crate::tasks::window(&body.since, body.until.as_deref())?;
    let selection = Selection {
        from,
        until,
        statuses: vec![ExecutionStatus::Failed],
        integration: Some(name.clone()),
        automation: None,
        code_class: None,
    };
    let mut request = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.into()))?;
    request["integration"] = name.into();
    start(
        &state,
        &principal,
        &headers,
        TaskKind::Recover,
        request,
        selection,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/executions/retry",
    tag = "executions",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "The same key names the same task"),
    ),
    request_body = RetryIn,
    responses(
        (status = 202, body = TaskOut, description = "A task queues again every finished execution the filter chooses; follow it at GET /v1/tasks/{id}"),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The window is empty or wider than 14 days (`refused`)"),
    ),
)]
pub(super) async fn retry_many(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RetryIn>,
) -> Result<(StatusCode, Json<TaskOut>), ApiError> {
    let (from, until) = crate::tasks::window(&body.since, body.until.as_deref())?;
    let statuses = match &body.statuses {
        Some(chosen) if chosen.is_empty() => {
            return Err(ApiError::Invalid("statuses: name at least one".into()));
        }
        Some(chosen) => chosen.iter().map(|&s| s.into()).collect(),
        None => vec![ExecutionStatus::Failed],
    };
    let selection = Selection {
        from,
        until,
        statuses,
        integration: None,
        automation: body.automation.as_ref().map(ToString::to_string),
        code_class: body.code_class,
    };
    let request = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.into()))?;
    start(
        &state,
        &principal,
        &headers,
        TaskKind::Retry,
        request,
        selection,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "tasks",
    params(TaskQuery),
    responses(
        (status = 200, body = TasksOut, description = "The entity's tasks, newest first"),
        (status = 400, body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TaskQuery>,
) -> Result<Json<TasksOut>, ApiError> {
    let limit = super::paging::limit(query.limit, 50);
    let before = (query.cursor.as_deref())
        .map(super::paging::task_cursor)
        .transpose()?
        .map(TaskId::from);
    let tasks = (state.store)
        .list_tasks(principal.entity.id, before, limit as u32 + 1)
        .await?;
    let (tasks, has_more, next_cursor) =
        super::paging::page(tasks, limit, |last| last.id.to_string());
    Ok(Json(TasksOut {
        tasks: tasks.into_iter().map(Into::into).collect(),
        has_more,
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = TaskOut, description = "The task and how far it got"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TaskOut>, ApiError> {
    let task = state
        .store
        .task(principal.entity.id, &TaskId::from(id))
        .await?;
    Ok(Json(task.into()))
}
