//! Launch jobs: `PUT …/jobs/{name}` saves a new version (admins), `GET …/jobs` lists each job's
//! latest, `GET …/jobs/{name}` reads one (`name` or `name@version`), `GET …/jobs/{name}/versions`
//! lists every version.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{Admin, Principal};
use super::json::JsonBody;
use crate::app::audit::Change;
use crate::error::{ApiError, ErrorBody};
use crate::launch::{JobRef, JobSpec, check_name};
use crate::model::audit::AuditAction;
use crate::store::JobRecord;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(save_job, read_job))
        .routes(routes!(job_versions))
}

/// One version of a job.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobOut {
    /// The job's name.
    pub name: String,
    /// This version.
    pub version: u32,
    /// What the job does.
    pub description: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Environment variables of the process.
    pub env: std::collections::BTreeMap<String, String>,
    /// Defaults of the run config.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// When this version was saved.
    pub created_at: String,
}

impl From<JobRecord> for JobOut {
    fn from(job: JobRecord) -> Self {
        Self {
            name: job.name,
            version: job.version,
            description: job.spec.description,
            command: job.spec.command,
            env: job.spec.env,
            config: job.spec.config,
            created_at: job.created_at,
        }
    }
}

/// Jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobsOut {
    /// The jobs (each one's latest version), or one job's versions.
    pub jobs: Vec<JobOut>,
}

fn invalid(message: String) -> ApiError {
    ApiError::Invalid(message)
}

#[utoipa::path(
    put,
    path = "/v1/entities/{entity}/jobs/{name}",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"),
    ),
    request_body = JobSpec,
    responses(
        (status = 201, body = JobOut, description = "A new version"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn save_job(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path((_, name)): Path<(String, String)>,
    JsonBody(spec): JsonBody<JobSpec>,
) -> Result<(StatusCode, Json<JobOut>), ApiError> {
    let entity = &principal.entity;
    check_name("job", &name).map_err(invalid)?;
    spec.check().map_err(invalid)?;
    let job = JobOut::from(state.store.save_job(entity.id, name, spec).await?);
    let change = Change::new(AuditAction::JobSaved, job.name.as_str()).after(&job);
    state.audit(&principal, change).await;
    Ok((StatusCode::CREATED, Json(job)))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/jobs",
    tag = "launch",
    params(("entity" = String, Path)),
    responses(
        (status = 200, body = JobsOut, description = "Each job's latest version"),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<JobsOut>, ApiError> {
    let entity = &principal.entity;
    let jobs = state.store.list_jobs(entity.id, None).await?;
    Ok(Json(JobsOut {
        jobs: jobs.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/jobs/{name}",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}(@0*[1-9][0-9]{0,8})?$", description = "`name` (the latest version) or `name@version`"),
    ),
    responses(
        (status = 200, body = JobOut),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn read_job(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<JobOut>, ApiError> {
    let entity = &principal.entity;
    let job = JobRef::parse(&name).map_err(invalid)?;
    Ok(Json(state.store.job(entity.id, &job).await?.into()))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{entity}/jobs/{name}/versions",
    tag = "launch",
    params(
        ("entity" = String, Path),
        ("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"),
    ),
    responses(
        (status = 200, body = JobsOut, description = "Every version, oldest first"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
)]
pub(super) async fn job_versions(
    State(state): State<AppState>,
    principal: Principal,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<JobsOut>, ApiError> {
    let entity = &principal.entity;
    check_name("job", &name).map_err(invalid)?;
    let jobs = state.store.list_jobs(entity.id, Some(name.clone())).await?;
    if jobs.is_empty() {
        return Err(ApiError::NotFound(format!("job {name} not found")));
    }
    Ok(Json(JobsOut {
        jobs: jobs.into_iter().map(Into::into).collect(),
    }))
}
