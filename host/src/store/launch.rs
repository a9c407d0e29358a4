//! Launch: jobs (every save a new version), queues, and queue items with their leases.

use serde_json::{Map, Value};

use super::{StoreError, json_column};
use crate::model::launch::{ItemStatus, JobRef, JobSpec};
use crate::model::output::OutputChunk;

/// One version of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job's name.
    pub name: String,
    /// Its version (1, 2, …).
    pub version: u32,
    /// The definition.
    pub spec: JobSpec,
    /// When this version was saved.
    pub created_at: String,
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// Its name, unique in the entity.
    pub name: String,
    /// When it was created.
    pub created_at: String,
}

/// An item to put on a queue.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// The queue.
    pub queue: String,
    /// The job, resolved to a version.
    pub job: String,
    /// Its version.
    pub job_version: u32,
    /// The merged run config.
    pub config: Map<String, Value>,
    /// The project the run belongs to.
    pub project: String,
    /// Who enqueued it (JSON).
    pub enqueued_by: Value,
    /// Higher runs first.
    pub priority: i32,
}

impl NewItem {
    /// The item as stored by an enqueue at `now` under `id` (which is also its run's id).
    pub(crate) fn queued(self, id: String, now: String) -> ItemRecord {
        ItemRecord {
            run_id: id.clone(),
            id,
            queue: self.queue,
            job: self.job,
            job_version: self.job_version,
            config: self.config,
            project: self.project,
            enqueued_by: self.enqueued_by,
            priority: self.priority,
            status: ItemStatus::Queued,
            attempts: 0,
            lease_owner: None,
            exit_code: None,
            output: None,
            output_bytes: 0,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// A queue item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// Its id (`item_…`); also the run id of the run it starts.
    pub id: String,
    /// The queue.
    pub queue: String,
    /// The job.
    pub job: String,
    /// The job's version.
    pub job_version: u32,
    /// The merged run config.
    pub config: Map<String, Value>,
    /// The project the run belongs to.
    pub project: String,
    /// The run's id.
    pub run_id: String,
    /// Who enqueued it.
    pub enqueued_by: Value,
    /// Its priority.
    pub priority: i32,
    /// Where it stands.
    pub status: ItemStatus,
    /// Times an agent claimed it.
    pub attempts: u32,
    /// The agent holding it, while claimed or running.
    pub lease_owner: Option<String>,
    /// The process's exit code, once it ended.
    pub exit_code: Option<i32>,
    /// The last 64 KiB of its output (of its latest claim).
    pub output: Option<String>,
    /// Bytes of output it has had in all: more than `output` holds when some were cut.
    pub output_bytes: u64,
    /// When it was enqueued.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

pub(crate) const ITEM_COLUMNS: &str =
    "id, queue, job, job_version, config, project, run_id, enqueued_by, priority, status,
     attempts, lease_owner, exit_code, output, created_at, updated_at, output_bytes";

pub(crate) type RawItem = (ItemRecord, String, String, String);

pub(crate) fn finish_item(
    (mut item, config, enqueued_by, _): RawItem,
) -> Result<ItemRecord, StoreError> {
    item.config = json_column(&config)?;
    item.enqueued_by = json_column(&enqueued_by)?;
    Ok(item)
}

/// The hashes of the two tokens a claim hands out: the run token (the job's, to post its run's
/// events) and the lease token (the agent's, to report on the item).
#[derive(Debug, Clone)]
pub struct ClaimTokens {
    /// SHA-256 of the run token.
    pub run: [u8; 32],
    /// SHA-256 of the lease token.
    pub lease: [u8; 32],
    /// The claim's `Idempotency-Key`: an item this owner holds under the same key, still only
    /// claimed, is the claim's answer again (with these tokens instead of the lost ones).
    pub idempotency_key: Option<String>,
}

/// An agent as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    /// Its name (unique in the entity).
    pub name: String,
    /// The id of the key it runs with.
    pub key_id: String,
    /// The queues that key is bound to.
    pub queues: Vec<String>,
    /// Items it runs at once.
    pub slots: u32,
    /// When it last claimed or heartbeated (Unix milliseconds).
    pub last_seen: i64,
}

/// Whether a stored lease hash is the one a caller's lease token hashes to (constant time).
pub(crate) fn holds(stored: Option<&[u8]>, lease: &[u8; 32]) -> bool {
    stored.is_some_and(|stored| crate::auth::hashes_equal(stored, lease))
}

/// Filters of an item listing.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Only items in this status.
    pub status: Option<ItemStatus>,
    /// Only items of this job.
    pub job: Option<String>,
    /// Only items put on the queue before this one (the last of the previous page).
    pub before: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

super::interface! {
    /// Launch: job versions, queues and the items put on them.
    trait LaunchStore {
        /// Saves a new version of a job; returns it.
        async fn save_job(
            &self,
            entity_id: i64,
            name: String,
            spec: JobSpec,
        ) -> Result<JobRecord, StoreError>;
        /// One job version (`name@N`), or the latest (`name`).
        async fn job(&self, entity_id: i64, job: &JobRef) -> Result<JobRecord, StoreError>;
        /// Every job's latest version, or every version of one job, by name then version.
        async fn list_jobs(
            &self,
            entity_id: i64,
            versions_of: Option<String>,
        ) -> Result<Vec<JobRecord>, StoreError>;
        /// Creates a queue (Conflict on a taken name).
        async fn create_queue(
            &self,
            entity_id: i64,
            name: String,
        ) -> Result<QueueRecord, StoreError>;
        /// The entity's queues, by name.
        async fn list_queues(&self, entity_id: i64) -> Result<Vec<QueueRecord>, StoreError>;
        /// Whether a queue exists (NotFound otherwise).
        async fn queue(&self, entity_id: i64, name: &str) -> Result<QueueRecord, StoreError>;
        /// Puts an item on its queue; the item's id is also its run's id.
        async fn enqueue(&self, entity_id: i64, item: NewItem) -> Result<ItemRecord, StoreError>;
        /// One item.
        async fn item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError>;
        /// A queue's items, newest first.
        async fn list_items(
            &self,
            entity_id: i64,
            queue: &str,
            filter: ItemFilter,
        ) -> Result<Vec<ItemRecord>, StoreError>;
        /// Cancels an item that has not ended; returns it as it now is (Conflict when it already
        /// ended). A running item's agent learns of it at its next heartbeat and stops the process.
        async fn cancel_item(&self, entity_id: i64, id: &str) -> Result<ItemRecord, StoreError>;
    }
}

super::interface! {
    /// Leases: queue items claimed by agents, their heartbeats, output and ends, leases that
    /// lapse, and the agents seen.
    trait LeaseStore {
        /// Claims the first ready item of `queue` for `owner` until `lease_ms` from now: higher
        /// priority first, then enqueue order. An item whose lease lapsed counts as ready again; one
        /// that has been claimed `max_attempts` times fails instead (returned second, so its run can
        /// be reported failed).
        async fn claim_item(
            &self,
            entity_id: i64,
            queue: &str,
            owner: &str,
            lease_ms: i64,
            max_attempts: u32,
            tokens: ClaimTokens,
        ) -> Result<(Option<ItemRecord>, Vec<ItemRecord>), StoreError>;
        /// The run a run token grants, while its item is claimed or running: (entity id, entity
        /// name, project, run id).
        async fn run_token(
            &self,
            hash: [u8; 32],
        ) -> Result<Option<(super::EntityRecord, String, String)>, StoreError>;
        /// Extends the lease of an item whose claim's lease token hashes to `lease` and moves it
        /// to `running` when `started`; returns its status (Conflict when that claim no longer
        /// holds it: it lapsed, or another agent holds it now).
        async fn heartbeat_item(
            &self,
            entity_id: i64,
            id: &str,
            lease: [u8; 32],
            lease_ms: i64,
            started: bool,
        ) -> Result<ItemStatus, StoreError>;
        /// Appends output to an item the claim whose lease token hashes to `lease` holds (cancelled
        /// or not); returns the bytes of output it has had in all (Conflict when the claim no
        /// longer holds it).
        async fn append_output(
            &self,
            entity_id: i64,
            id: &str,
            lease: [u8; 32],
            chunk: OutputChunk,
        ) -> Result<u64, StoreError>;
        /// Records how an item's process ended, with the last of its output, if the claim whose
        /// lease token hashes to `lease` still holds it (cancelled or not); returns the item as it
        /// now is, and whether this call finished it: the same finish (claim and exit code) sent
        /// again after it was recorded changes nothing and answers `false`.
        async fn finish_item(
            &self,
            entity_id: i64,
            id: &str,
            lease: [u8; 32],
            exit_code: i32,
            output: OutputChunk,
        ) -> Result<(ItemRecord, bool), StoreError>;
        /// Every item, of any queue and entity, whose lease lapsed: back on its queue, or failed
        /// once claimed `max_attempts` times. Returns the failed ones with their entity (their
        /// runs are to be reported failed). Safe to run on several hosts at once.
        async fn release_lapsed(
            &self,
            max_attempts: u32,
        ) -> Result<Vec<(super::EntityRecord, ItemRecord)>, StoreError>;
        /// Records that an agent asked for work now (upserts it by name).
        async fn agent_seen(&self, entity_id: i64, agent: AgentRecord) -> Result<(), StoreError>;
        /// An entity's agents by name, with the items each holds now.
        async fn list_agents(&self, entity_id: i64) -> Result<Vec<(AgentRecord, u32)>, StoreError>;
    }
}
