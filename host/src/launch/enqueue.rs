//! Enqueueing: the one path from a request (a user's `POST …/items`, or a plugin's
//! `launch.enqueue`) to a queue item — the queue and job looked up in the entity, the overrides
//! checked against the job's config and merged.

use serde_json::{Map, Value};

use super::{JobRef, merge_config};
use crate::engine::outbound::{EnqueueFuture, LaunchRequest, Launcher};
use crate::store::{ItemRecord, NewItem, Store, StoreError};

/// Why an enqueue was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The request is wrong (a bad job reference).
    #[error("{0}")]
    Invalid(String),
    /// The job it names does not exist.
    #[error("{0}")]
    MissingJob(String),
    /// Well-formed, but the job does not take it (an override of a key it does not declare).
    #[error("{0}")]
    Refused(String),
    /// The queue or the job does not exist; storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to enqueue.
#[derive(Debug, Clone)]
pub struct Enqueue {
    /// The queue.
    pub queue: String,
    /// `name` or `name@version`.
    pub job: String,
    /// Values for keys of the job's config.
    pub overrides: Map<String, Value>,
    /// The project the run belongs to.
    pub project: String,
    /// Higher runs first.
    pub priority: i32,
    /// Who asks: `{"key": id}` or `{"automation": id, "execution": id}`.
    pub enqueued_by: Value,
}

/// Checks and enqueues; returns the item.
pub async fn enqueue(
    store: &Store,
    entity_id: i64,
    request: Enqueue,
) -> Result<ItemRecord, EnqueueError> {
    let job = JobRef::parse(&request.job).map_err(EnqueueError::Invalid)?;
    store.queue(entity_id, &request.queue).await?;
    let job = store.job(entity_id, &job).await.map_err(|e| match e {
        StoreError::NotFound(what) => EnqueueError::MissingJob(format!("job: {what} not found")),
        other => other.into(),
    })?;
    let config =
        merge_config(&job.spec.config, &request.overrides).map_err(EnqueueError::Refused)?;
    let item = NewItem {
        queue: request.queue,
        job: job.name,
        job_version: job.version,
        config,
        project: request.project,
        enqueued_by: request.enqueued_by,
        priority: request.priority,
    };
    Ok(store.enqueue(entity_id, item).await?)
}

/// The [`Launcher`] an automation's execution gets: enqueues in its entity, for the event's
/// project, recorded as enqueued by the automation and execution.
pub struct QueueLauncher {
    /// The store.
    pub store: Store,
    /// The automation's entity.
    pub entity_id: i64,
    /// The project of the event that fired it.
    pub project: String,
    /// `{"automation": id, "execution": id}`.
    pub enqueued_by: Value,
}

impl Launcher for QueueLauncher {
    fn enqueue(&self, request: LaunchRequest) -> EnqueueFuture<'_> {
        Box::pin(async move {
            let overrides = match serde_json::from_str::<Value>(&request.config) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err("overrides must be a JSON object".into()),
                Err(e) => return Err(format!("overrides are not JSON: {e}")),
            };
            let request = Enqueue {
                queue: request.queue,
                job: request.job,
                overrides,
                project: self.project.clone(),
                priority: request.priority,
                enqueued_by: self.enqueued_by.clone(),
            };
            match enqueue(&self.store, self.entity_id, request).await {
                Ok(item) => Ok(item.id),
                Err(EnqueueError::Store(StoreError::NotFound(what))) => {
                    Err(format!("{what} not found in this entity"))
                }
                Err(error) => Err(error.to_string()),
            }
        })
    }
}
