//! Leases: queue items under an agent's claim. Claiming (the run and lease tokens, the agent
//! seen, items past their attempts failed), heartbeats, finishes and the sweep of lapsed leases
//! (`lapsed.rs`), each start, finish and failure reported as the run's `RUN_STATE` event
//! (`report.rs`) through ingest. Handlers authorise; this does the rest.

pub mod lapsed;
pub mod report;

use crate::ingest::Ingest;
use crate::model::event::RunState;
use crate::model::launch::{ItemStatus, JobRef};
use crate::model::output::OutputChunk;
use crate::store::{AgentRecord, ClaimTokens, EntityRecord, ItemRecord, JobRecord, StoreError};
use report::{LOST, report_run};

/// A claimed item with what its agent needs to run it. The tokens are shown here once; the
/// store keeps their hashes.
pub struct Claim {
    /// The item, now `claimed`.
    pub item: ItemRecord,
    /// The job version it runs.
    pub job: JobRecord,
    /// The token the run posts its own events with, while it runs.
    pub run_token: String,
    /// The token that proves the claim in heartbeats, output and the finish.
    pub lease_token: String,
}

/// Claims the next ready item of `queue` for `agent` (recorded as seen now) for `lease_ms`; an
/// item claimed `max_attempts` times already fails instead, its run reported `FAILED`. A claim
/// sent again with the same `idempotency_key` (its answer lost) gets the item it took back, with
/// fresh tokens.
pub async fn claim(
    ingest: &Ingest,
    entity: &EntityRecord,
    queue: &str,
    agent: AgentRecord,
    lease_ms: i64,
    max_attempts: u32,
    idempotency_key: Option<String>,
) -> Result<Option<Claim>, StoreError> {
    let store = &ingest.store;
    store.queue(entity.id, queue).await?;
    let owner = agent.name.clone();
    store.agent_seen(entity.id, agent).await?;
    let run_token = crate::auth::generate_run_token();
    let lease_token = hex::encode(crate::auth::random_bytes::<32>());
    let tokens = ClaimTokens {
        run: crate::auth::hash_key(&run_token),
        lease: crate::auth::hash_key(&lease_token),
        idempotency_key,
    };
    let (claimed, failed) = store
        .claim_item(
            entity.id,
            queue,
            &owner,
            lease_ms,
            max_attempts.max(1),
            tokens,
        )
        .await?;
    for item in &failed {
        report_run(
            ingest,
            entity.id,
            &entity.name,
            item,
            RunState::Failed,
            Some(LOST),
        )
        .await?;
    }
    let Some(item) = claimed else {
        return Ok(None);
    };
    let job = JobRef {
        name: item.job.clone(),
        version: Some(item.job_version),
    };
    let job = store.job(entity.id, &job).await?;
    Ok(Some(Claim {
        item,
        job,
        run_token,
        lease_token,
    }))
}

/// Extends the lease the claim with `lease_token` holds on item `id`; on the first heartbeat
/// after its process `started`, the item becomes `running` and its run is reported `RUNNING`.
pub async fn heartbeat(
    ingest: &Ingest,
    entity: &EntityRecord,
    id: &str,
    lease_token: &str,
    lease_ms: i64,
    started: bool,
) -> Result<ItemStatus, StoreError> {
    let lease = crate::auth::hash_key(lease_token);
    let status = ingest
        .store
        .heartbeat_item(entity.id, id, lease, lease_ms, started)
        .await?;
    if started && status == ItemStatus::Running {
        let item = ingest.store.item(entity.id, id).await?;
        report_run(
            ingest,
            entity.id,
            &entity.name,
            &item,
            RunState::Running,
            None,
        )
        .await?;
    }
    Ok(status)
}

/// Records how item `id`'s process ended, with the last of its output, if the claim with
/// `lease_token` still holds it, and reports its run: `FINISHED`, `FAILED`, or `FAILED` with
/// reason `cancelled` (as users of W&B expect of a cancelled run).
pub async fn finish(
    ingest: &Ingest,
    entity: &EntityRecord,
    id: &str,
    lease_token: &str,
    exit_code: i32,
    output: OutputChunk,
) -> Result<ItemRecord, StoreError> {
    let lease = crate::auth::hash_key(lease_token);
    let (item, finished) = ingest
        .store
        .finish_item(entity.id, id, lease, exit_code, output)
        .await?;
    if !finished {
        // The same report again (its answer was lost): already recorded and reported.
        return Ok(item);
    }
    let run_state = match item.status {
        ItemStatus::Finished => Some((RunState::Finished, None)),
        ItemStatus::Failed => Some((RunState::Failed, None)),
        ItemStatus::Cancelled => Some((RunState::Failed, Some("cancelled"))),
        _ => None,
    };
    if let Some((run_state, reason)) = run_state {
        report_run(ingest, entity.id, &entity.name, &item, run_state, reason).await?;
    }
    Ok(item)
}
