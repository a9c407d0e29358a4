//! Launch, the users' side: queues (`POST/GET …/queues`), items (enqueue, list, get, cancel) and
//! their output (appended by the agent holding the claim, followed by anyone of the entity).
//! Admins create queues; any key of the entity may enqueue or cancel. Jobs are `jobs.rs`; the
//! agents' side (claim, heartbeat, finish) is `agents.rs`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Admin, AgentKey, Principal};
use super::json::JsonBody;
use super::paging;
use crate::app::audit::Change;
use crate::error::{ApiError, ErrorBody};
use crate::launch::enqueue::{self, Enqueue, EnqueueError};
use crate::launch::{ItemStatus, OutputChunk, StoredOutput, check_name};
use crate::model::audit::AuditAction;
use crate::store::{ItemFilter, ItemRecord, QueueRecord};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queues, create_queue))
        .routes(routes!(list_items, enqueue))
        .routes(routes!(read_item))
        .routes(routes!(cancel_item))
        .routes(routes!(append_output, read_output))
}

/// A queue.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueueOut {
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: String,
}

impl From<QueueRecord> for QueueOut {
    fn from(queue: QueueRecord) -> Self {
        Self {
            name: queue.name,
            created_at: queue.created_at,
        }
    }
}

/// Queues.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QueuesOut {
    /// The entity's queues, by name.
    pub queues: Vec<QueueOut>,
}

/// A queue item: one run of a job version.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ItemOut {
    /// Its id, which is also the run's id.
    pub id: String,
    /// The queue.
    pub queue: String,
    /// The job, `name@version`.
    pub job: String,
    /// The merged run config.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// The project the run belongs to.
    pub project: String,
    /// The run's id.
    pub run_id: String,
    /// Who enqueued it: `{"key": id}` or `{"automation": id, "execution": id}`.
    #[schema(value_type = Object)]
    pub enqueued_by: Value,
    /// Higher runs first.
    pub priority: i32,
    /// Where it stands.
    pub status: ItemStatus,
    /// Times an agent claimed it.
    pub attempts: u32,
    /// The agent holding it.
    pub agent: Option<String>,
    /// The process's exit code, once it ended.
    pub exit_code: Option<i32>,
    /// The last 64 KiB of its output (stdout and stderr as they came), while it runs too.
    pub output: Option<String>,
    /// Bytes of output the run has had in all.
    pub output_bytes: u64,
    /// Bytes of output cut before what `output` holds (0 when it holds all of it).
    pub output_cut_bytes: u64,
    /// When it was enqueued.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<ItemRecord> for ItemOut {
    fn from(item: ItemRecord) -> Self {
        Self {
            job: format!("{}@{}", item.job, item.job_version),
            id: item.id,
            queue: item.queue,
            config: item.config,
            project: item.project,
            run_id: item.run_id,
            enqueued_by: item.enqueued_by,
            priority: item.priority,
            status: item.status,
            attempts: item.attempts,
            agent: item.lease_owner,
            exit_code: item.exit_code,
            output_cut_bytes: item
                .output_bytes
                .saturating_sub(item.output.as_ref().map_or(0, |o| o.len() as u64)),
            output_bytes: item.output_bytes,
            output: item.output,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// Items.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ItemsOut {
    /// The queue's items, newest first.
    pub items: Vec<ItemOut>,
    /// Whether more match than this page holds.
    pub has_more: bool,
    /// Present when more exist: pass it as `cursor` (with the same filter) for the next page.
    pub next_cursor: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::Invalid(message)
}

/// The body of `POST …/queues`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewQueue {
    /// Its name, unique in the entity.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: String,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/queues",
    tag = "launch",
    params(("entity" = String, Path)),
    request_body = NewQueue,
    responses(
        (status = 201, body = QueueOut),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
)]
pub(super) async fn create_queue(
    State(state): State<AppState>,
    Admin(principal): Admin,
    JsonBody(body): JsonBody<NewQueue>,
) -> Result<(StatusCode, Json<QueueOut>), ApiError> {
    let entity = &principal.entity;
    check_name("queue", &body.name).map_err(invalid)?;
    let queue = QueueOut::from(state.store.create_queue(entity.id, body.name).await?);
    let change = Change::new(AuditAction::QueueCreated, queue.name.as_str()).after(&queue);
    state.audit(&principal, change).await;
    Ok((StatusCode::CREATED, Json(queue)))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/queues",
    tag = "launch",
    params(("entity" = String, Path)),
    responses(
        (status = 200, body = QueuesOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list_queues(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<QueuesOut>, ApiError> {
    let entity = &principal.entity;
    let queues = state.store.list_queues(entity.id).await?;
    Ok(Json(QueuesOut {
        queues: queues.into_iter().map(Into::into).collect(),
    }))
}

/// The body of `POST …/queues/{queue}/items`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewItemIn {
    /// The job: `name` (its latest version) or `name@version`.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}(@0*[1-9][0-9]{0,8})?$")]
    pub job: String,
    /// The project the run belongs to (its RUN_STATE events are posted there).
    #[schema(pattern = r"^[^/:\u0000-\u001F\u007F-\u009F]{1,128}$")]
    pub project: String,
    /// Higher runs first (default 0).
    #[serde(default, deserialize_with = "crate::model::whole::integer")]
    pub priority: i32,
    /// Values for keys of the job's config.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub overrides: Map<String, Value>,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/queues/{queue}/items",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("queue" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"),
    ),
    request_body = NewItemIn,
    responses(
        (status = 201, body = ItemOut),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The job does not exist (`missing`), or does not declare a key it overrides (`refused`)"),
    ),
)]
pub(super) async fn enqueue(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, queue)): Path<(String, String)>,
    JsonBody(body): JsonBody<NewItemIn>,
) -> Result<(StatusCode, Json<ItemOut>), ApiError> {
    let entity = &principal.entity;
    crate::events::event::check_name("project", &body.project)
        .map_err(|e| invalid(e.to_string()))?;
    let request = Enqueue {
        queue,
        job: body.job,
        overrides: body.overrides,
        project: body.project,
        priority: body.priority,
        enqueued_by: json!({"key": principal.key_id}),
    };
    let item = enqueue::enqueue(&state.store, entity.id, request)
        .await
        .map_err(|error| match error {
            EnqueueError::Invalid(message) => invalid(message),
            EnqueueError::Refused(message) => ApiError::Refused(message),
            EnqueueError::MissingJob(message) => ApiError::Missing(message),
            EnqueueError::Store(error) => error.into(),
        })?;
    Ok((StatusCode::CREATED, Json(item.into())))
}

/// Query parameters of an item listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemsQuery {
    /// Only items in this status.
    pub status: Option<ItemStatus>,
    /// Only items of this job (by name).
    pub job: Option<String>,
    /// At most this many, newest first (default 100; more than 1000 reads 1000).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The page after the one that answered this `next_cursor` (same filter).
    #[param(pattern = r"^([0-9a-f]{2}){1,1024}$")]
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/queues/{queue}/items",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("queue" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"),
        ItemsQuery,
    ),
    responses(
        (status = 200, body = ItemsOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list_items(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, queue)): Path<(String, String)>,
    Query(query): Query<ItemsQuery>,
) -> Result<Json<ItemsOut>, ApiError> {
    let entity = &principal.entity;
    state.store.queue(entity.id, &queue).await?;
    let limit = paging::limit(query.limit, 100);
    let filter = ItemFilter {
        status: query.status,
        job: query.job,
        before: query
            .cursor
            .as_deref()
            .map(paging::name_of_cursor)
            .transpose()?,
        limit: limit + 1,
    };
    let items = state.store.list_items(entity.id, &queue, filter).await?;
    let (items, has_more, next_cursor) =
        paging::page(items, limit, |last| paging::name_cursor(&last.id));
    Ok(Json(ItemsOut {
        items: items.into_iter().map(Into::into).collect(),
        has_more,
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/items/{id}",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    responses(
        (status = 200, body = ItemOut),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ItemOut>, ApiError> {
    let entity = &principal.entity;
    Ok(Json(state.store.item(entity.id, &id).await?.into()))
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/items/{id}/cancel",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    responses(
        (status = 200, body = ItemOut, description = "Cancelled; a running process is stopped by its agent"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "It already ended"),
    ),
)]
pub(super) async fn cancel_item(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ItemOut>, ApiError> {
    let entity = &principal.entity;
    Ok(Json(state.store.cancel_item(entity.id, &id).await?.into()))
}

/// The most output one request may carry.
const MAX_CHUNK_BYTES: usize = 1 << 20;

pub(super) fn chunk(offset: Option<u64>, text: String) -> Result<OutputChunk, ApiError> {
    if text.len() > MAX_CHUNK_BYTES {
        return Err(invalid(format!(
            "output: at most {MAX_CHUNK_BYTES} bytes a request (the item keeps the last 64 KiB)"
        )));
    }
    Ok(OutputChunk { offset, text })
}

/// The body of `POST …/items/{id}/output`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputIn {
    /// The lease token the claim answered with.
    pub lease_token: String,
    /// Where `text` starts in the run's output stream (bytes): the `output_bytes` the previous
    /// append answered. A retried chunk is taken once; an offset past the end means the agent
    /// cut the bytes in between, and they count as cut.
    #[serde(deserialize_with = "crate::model::whole::integer")]
    pub offset: u64,
    /// The output (at most 1 MiB a request).
    #[schema(max_length = 1048576)]
    pub text: String,
}

/// What an append answers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OutputAppendedOut {
    /// Bytes of output the run has had in all: the offset of the next chunk.
    pub output_bytes: u64,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/items/{id}/output",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    request_body = OutputIn,
    responses(
        (status = 200, body = OutputAppendedOut),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an agent key bound to the item's queue"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The lease token's claim no longer holds the item"),
    ),
)]
pub(super) async fn append_output(
    State(state): State<AppState>,
    agent: AgentKey,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<OutputIn>,
) -> Result<Json<OutputAppendedOut>, ApiError> {
    let entity = agent.0.entity.clone();
    agent.require_queue(&state.store.item(entity.id, &id).await?.queue)?;
    let output = chunk(Some(body.offset), body.text)?;
    let lease = crate::auth::hash_key(&body.lease_token);
    let output_bytes = state
        .store
        .append_output(entity.id, &id, lease, output)
        .await?;
    Ok(Json(OutputAppendedOut { output_bytes }))
}

/// Query parameters of `GET …/items/{id}/output`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputQuery {
    /// The byte of the output stream to start at (default 0): the `output_bytes` of the
    /// previous read, to follow a running item. (An `i64`, as the document's `int64` says.)
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A stretch of an item's output.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OutputOut {
    /// The item's status: once it is final, no more output comes.
    pub status: ItemStatus,
    /// Where `text` starts in the output stream: later than the offset asked for when the bytes
    /// there were cut (only the last 64 KiB are kept).
    pub start: u64,
    /// The output from `start` to the end so far.
    pub text: String,
    /// Bytes of output the run has had in all: the offset of the next read.
    pub output_bytes: u64,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/items/{id}/output",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
        OutputQuery,
    ),
    responses(
        (status = 200, body = OutputOut, description = "The output from the offset on, as far as it is kept"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read_output(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, id)): Path<(String, String)>,
    Query(query): Query<OutputQuery>,
) -> Result<Json<OutputOut>, ApiError> {
    let entity = &principal.entity;
    let item = state.store.item(entity.id, &id).await?;
    let output = StoredOutput {
        kept: item.output.unwrap_or_default(),
        total: item.output_bytes,
    };
    let offset = u64::try_from(query.offset.unwrap_or(0))
        .map_err(|_| ApiError::Invalid("offset: must be 0 or more".into()))?;
    let (start, text) = output.since(offset);
    Ok(Json(OutputOut {
        status: item.status,
        start,
        text: text.to_string(),
        output_bytes: output.total,
    }))
}
