//! Delivery's side of executions: claiming due ones with a lease, recording attempts and
//! outcomes, releasing claims, and manual retries.

use std::sync::Arc;

use super::StoreError;
use crate::ids::ExecutionId;
use crate::model::automation::Automation;
use crate::model::event::Event;
use crate::model::execution::ExecutionStatus;

/// An execution claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The execution id.
    pub id: ExecutionId,
    /// The entity it belongs to.
    pub entity_id: i64,
    /// The attempt being made (1 for the first).
    pub attempt: u32,
    /// The automation snapshot.
    pub automation: Arc<Automation>,
    /// The event.
    pub event: Arc<Event>,
    /// The rendered payload (secrets as placeholders).
    pub payload: Option<String>,
    /// What fired it, for a metric automation.
    pub metric: Option<crate::model::event::MetricContext>,
}

/// An attempt made, to record.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    /// Its number (1 for the first).
    pub number: u32,
    /// Its record (JSON, redacted).
    pub record: String,
    /// How long it took.
    pub duration_ms: f64,
    /// The integration it went through (entity id, name), if any: a success restores its
    /// health (no failures in a row, not failing).
    pub integration: Option<(i64, String)>,
}

/// How an attempt ended, for the execution.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Delivered.
    Succeeded(String),
    /// Will not be retried (invalid, rejected, out of attempts).
    Failed(String),
    /// Retried at this time (Unix ms).
    Retry {
        /// When the next attempt is due.
        at_ms: i64,
        /// Why this attempt failed.
        reason: String,
    },
}

impl Settlement {
    /// The status, the reason recorded with it, and when the next attempt is due (a retry).
    pub fn into_parts(self) -> (ExecutionStatus, String, Option<i64>) {
        let status = self.status();
        match self {
            Self::Succeeded(summary) | Self::Failed(summary) => (status, summary, None),
            Self::Retry { at_ms, reason } => (status, reason, Some(at_ms)),
        }
    }

    /// The status the execution takes.
    pub fn status(&self) -> ExecutionStatus {
        match self {
            Self::Succeeded(_) => ExecutionStatus::Succeeded,
            Self::Failed(_) => ExecutionStatus::Failed,
            Self::Retry { .. } => ExecutionStatus::Retrying,
        }
    }
}

/// What `hold_claim` makes of an execution: held while its integration is disabled, else due
/// again (the integration was enabled since the attempt looked).
pub(crate) fn held_status(disabled: bool, integration: &str) -> (&'static str, String) {
    if disabled {
        (
            "held",
            format!("held: integration {integration} is disabled"),
        )
    } else {
        (
            "retrying",
            format!("integration {integration} was enabled again"),
        )
    }
}

super::interface! {
    /// Delivery's side of executions: claims with leases, attempts, outcomes, releases, retries.
    trait DeliveryStore {
        /// Claims up to `limit` executions that are due (or whose lease expired) for `owner` until
        /// `lease_until_ms`, counting an attempt for each, oldest due first.
        async fn claim_due(
            &self,
            owner: &str,
            lease_ms: i64,
            limit: usize,
        ) -> Result<Vec<Claimed>, StoreError>;
        /// When the next execution is due (Unix ms), if any: a pending or retrying one's next
        /// attempt, or the end of a running one's lease (then `claim_due` takes it over).
        async fn next_due_ms(&self) -> Result<Option<i64>, StoreError>;
        /// Records an attempt and settles the execution, if `owner` still holds its lease. Returns
        /// false when the lease was lost (another worker took over): the attempt is still recorded.
        async fn finish_attempt(
            &self,
            id: &ExecutionId,
            owner: &str,
            attempt: FinishedAttempt,
            settlement: Settlement,
        ) -> Result<bool, StoreError>;
        /// Gives back `owner`'s claim without an attempt (the attempt it counted is taken back),
        /// holding the execution while `integration` is disabled; if it was enabled meanwhile,
        /// the execution is due again when it was (its place among those enabling released
        /// kept). False when the lease was lost.
        async fn hold_claim(
            &self,
            id: &ExecutionId,
            owner: &str,
            entity_id: i64,
            integration: &str,
        ) -> Result<bool, StoreError>;
        /// Gives back every claim of `owner` (at shutdown): they are due again at once.
        async fn release_claims(&self, owner: &str) -> Result<usize, StoreError>;
        /// Claims a stopped process of `host` left running (those of a process that is not
        /// `owner`): due again at once. On SQLite, where one host owns the file, every claim not
        /// `owner`'s is such a claim.
        async fn recover_abandoned(&self, host: &str, owner: &str) -> Result<usize, StoreError>;
        /// Claims of `owner` whose lease ends by `leased_until_at_most_ms` (made before a database
        /// failure) that are not among `in_flight`: claims whose answer a database failure lost,
        /// so that nothing of this process delivers them. Due again at once.
        async fn release_lost_claims(
            &self,
            owner: &str,
            leased_until_at_most_ms: i64,
            in_flight: Vec<String>,
        ) -> Result<usize, StoreError>;
        /// Puts a finished execution back on the queue. Conflict when it is still in progress.
        async fn retry_execution(&self, entity_id: i64, id: &ExecutionId) -> Result<(), StoreError>;
        /// Executions not yet settled (pending, retrying or running), for the queue-depth metric.
        async fn queue_depth(&self) -> Result<i64, StoreError>;
        /// Executions due and not yet delivered (pending or running): the backlog ingest's
        /// back-pressure bounds.
        async fn backlog(&self) -> Result<i64, StoreError>;
    }
}
