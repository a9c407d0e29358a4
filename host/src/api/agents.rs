//! Launch, the agents' side: claim (an agent key bound to the queue; the answer carries the run
//! token for the job and the lease token for the agent), heartbeat, finish, and the list of
//! agents. Only the claim's lease token reports on what it claimed; output is appended through
//! `launch.rs`'s output route with the same token.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{AgentKey, Principal};
use super::jobs::JobOut;
use super::json::JsonBody;
use super::launch::{ItemOut, chunk};
use super::{AppState, to_completion};
use crate::error::{ApiError, ErrorBody};
use crate::launch::ItemStatus;
use crate::leases;
use crate::store::AgentRecord;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(claim))
        .routes(routes!(list_agents))
        .routes(routes!(heartbeat))
        .routes(routes!(finish))
}

/// What an agent's claim found.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ClaimOut {
    /// The item claimed, if one was ready.
    pub item: Option<ItemOut>,
    /// The job version to run, with the item.
    pub job: Option<JobOut>,
    /// The token the job's process posts its run's events with (`HERALD_RUN_TOKEN`); valid
    /// while the item is claimed or running, for that run's events only.
    pub run_token: Option<String>,
    /// The token heartbeats and the finish report of this claim must carry: only the agent
    /// that claimed the item can report on it. Never give it to the job.
    pub lease_token: Option<String>,
}

/// What a heartbeat answers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HeartbeatOut {
    /// The item's status: `cancelled` means stop the process.
    pub status: ItemStatus,
}

/// The body of a claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ClaimIn {
    /// The agent's name (unique per agent process), recorded as the item's holder.
    #[schema(min_length = 1, max_length = 128)]
    pub agent: String,
    /// How long the claim holds without a heartbeat (1–3600 s; default 30).
    #[serde(
        deserialize_with = "crate::model::whole::integer",
        default = "default_lease"
    )]
    #[schema(minimum = 1, maximum = 3600)]
    pub lease_seconds: u32,
    /// How many items the agent runs at once (shown in the agent list; default 1).
    #[serde(default = "one", deserialize_with = "crate::model::whole::integer")]
    #[schema(minimum = 1)]
    pub slots: u32,
}

impl ClaimIn {
    /// The agent as this claim shows it, with the key it claims with.
    fn agent(self, principal: &Principal) -> Result<AgentRecord, ApiError> {
        if !(1..=128).contains(&self.agent.chars().count()) {
            return Err(ApiError::Invalid("agent: 1 to 128 characters".into()));
        }
        Ok(AgentRecord {
            name: self.agent,
            key_id: principal.key_id.clone(),
            queues: principal.queues.clone(),
            slots: self.slots.max(1),
            last_seen: crate::store::unix_millis(),
        })
    }
}

impl From<Option<leases::Claim>> for ClaimOut {
    fn from(claim: Option<leases::Claim>) -> Self {
        match claim {
            Some(claim) => ClaimOut {
                item: Some(claim.item.into()),
                job: Some(claim.job.into()),
                run_token: Some(claim.run_token),
                lease_token: Some(claim.lease_token),
            },
            None => ClaimOut {
                item: None,
                job: None,
                run_token: None,
                lease_token: None,
            },
        }
    }
}

fn one() -> u32 {
    1
}

fn default_lease() -> u32 {
    30
}

fn lease_ms(seconds: u32) -> Result<i64, ApiError> {
    match seconds {
        1..=3600 => Ok(i64::from(seconds) * 1000),
        _ => Err(ApiError::Invalid("lease_seconds: 1 to 3600".into())),
    }
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/queues/{queue}/claim",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("queue" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[\u0020-\u007E]{1,255}$", description = "The same claim sent again (its answer lost) gets the item it took back, with fresh tokens"),
    ),
    request_body = ClaimIn,
    responses(
        (status = 200, body = ClaimOut, description = "The next item (higher priority first, then FIFO) with its job, or none"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an agent key bound to this queue"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn claim(
    State(state): State<AppState>,
    agent: AgentKey,
    Path((_, queue)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<ClaimIn>,
) -> Result<Json<ClaimOut>, ApiError> {
    agent.require_queue(&queue)?;
    let principal = agent.0;
    let lease = lease_ms(body.lease_seconds)?;
    let seen = body.agent(&principal)?;
    let key = super::events::idempotency_key(&headers)?;
    let claimed = to_completion(async move {
        let max_attempts = state.launch.max_attempts;
        let ingest = state.ingest();
        let entity = &principal.entity;
        Ok(leases::claim(&ingest, entity, &queue, seen, lease, max_attempts, key).await?)
    })
    .await?;
    Ok(Json(claimed.into()))
}

/// An agent as the agent list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AgentOut {
    /// Its name.
    pub name: String,
    /// The id of the agent key it runs with.
    pub key_id: String,
    /// The queues it may claim from.
    pub queues: Vec<String>,
    /// Items it runs at once.
    pub slots: u32,
    /// Items it holds now (claimed or running).
    pub slots_in_use: u32,
    /// When it last claimed or heartbeated (RFC 3339).
    pub last_seen_at: String,
}

/// `GET …/agents`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AgentsOut {
    /// The agents that have claimed from the entity's queues, by name.
    pub agents: Vec<AgentOut>,
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/agents",
    tag = "launch",
    params(("entity" = String, Path)),
    responses(
        (status = 200, body = AgentsOut, description = "Agents with their queues, slots in use and when they were last seen"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<AgentsOut>, ApiError> {
    let entity = &principal.entity;
    let agents = state.store.list_agents(entity.id).await?;
    Ok(Json(AgentsOut {
        agents: agents
            .into_iter()
            .map(|(agent, in_use)| AgentOut {
                name: agent.name,
                key_id: agent.key_id,
                queues: agent.queues,
                slots: agent.slots,
                slots_in_use: in_use,
                last_seen_at: humantime::format_rfc3339_millis(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(agent.last_seen.max(0) as u64),
                )
                .to_string(),
            })
            .collect(),
    }))
}

/// The body of a heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HeartbeatIn {
    /// The lease token the claim answered with.
    pub lease_token: String,
    /// True on the first heartbeat after the process started: the item becomes `running` and
    /// its run's `RUN_STATE` `RUNNING` event is recorded.
    #[serde(default)]
    pub started: bool,
    /// How long the lease holds from now (1–3600 s; default 30).
    #[serde(
        deserialize_with = "crate::model::whole::integer",
        default = "default_lease"
    )]
    #[schema(minimum = 1, maximum = 3600)]
    pub lease_seconds: u32,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/items/{id}/heartbeat",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    request_body = HeartbeatIn,
    responses(
        (status = 200, body = HeartbeatOut),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an agent key bound to the item's queue"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The lease token's claim no longer holds the item"),
    ),
)]
pub(super) async fn heartbeat(
    State(state): State<AppState>,
    agent: AgentKey,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<HeartbeatIn>,
) -> Result<Json<HeartbeatOut>, ApiError> {
    let entity = agent.0.entity.clone();
    agent.require_queue(&state.store.item(entity.id, &id).await?.queue)?;
    let lease = lease_ms(body.lease_seconds)?;
    let status = to_completion(async move {
        let ingest = state.ingest();
        let token = &body.lease_token;
        Ok(leases::heartbeat(&ingest, &entity, &id, token, lease, body.started).await?)
    })
    .await?;
    Ok(Json(HeartbeatOut { status }))
}

/// The body of a finish report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FinishIn {
    /// The lease token the claim answered with.
    pub lease_token: String,
    /// The process's exit code (a signal's number is reported as 128 + it).
    #[serde(deserialize_with = "crate::model::whole::integer")]
    pub exit_code: i32,
    /// The last of its output, not yet appended (the item keeps the stream's last 64 KiB).
    #[serde(default)]
    #[schema(max_length = 1048576)]
    pub output: String,
    /// Where `output` starts in the run's output stream, as for `POST …/output`; without it,
    /// `output` follows whatever the item has.
    #[serde(default, deserialize_with = "crate::model::whole::optional")]
    pub output_offset: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/v1/entities/{entity}/items/{id}/finish",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("id" = String, Path),
    ),
    request_body = FinishIn,
    responses(
        (status = 200, body = ItemOut, description = "Finished; the same finish (lease token and exit code) sent again answers the item as recorded and changes nothing"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not an agent key bound to the item's queue"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The lease token's claim no longer holds the item"),
    ),
)]
pub(super) async fn finish(
    State(state): State<AppState>,
    agent: AgentKey,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<FinishIn>,
) -> Result<Json<ItemOut>, ApiError> {
    let entity = agent.0.entity.clone();
    agent.require_queue(&state.store.item(entity.id, &id).await?.queue)?;
    let output = chunk(body.output_offset, body.output)?;
    let item = to_completion(async move {
        let ingest = state.ingest();
        let (token, code) = (&body.lease_token, body.exit_code);
        Ok(leases::finish(&ingest, &entity, &id, token, code, output).await?)
    })
    .await?;
    Ok(Json(item.into()))
}
