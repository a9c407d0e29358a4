//! Run state coming back: each start, finish and failure of a queue item is recorded as a
//! `RUN_STATE` event for its run, through ingest like any posted event, so that automations on run
//! states fire for launched runs too.

use serde_json::json;

use crate::events::ingest::Ingest;
use crate::events::{Event, EventInput, RunState};
use crate::store::{ItemRecord, StoreError};

/// Records `run_state` for the item's run in its project (idempotent per attempt and state: an
/// agent retrying its request creates nothing new).
pub async fn report_run(
    ingest: &Ingest,
    entity_id: i64,
    entity: &str,
    item: &ItemRecord,
    run_state: RunState,
) -> Result<(), StoreError> {
    let input: EventInput = serde_json::from_value(json!({
        "type": "RUN_STATE", "entity": entity, "project": item.project, "run_id": item.run_id,
        "run_name": format!("{}@{}", item.job, item.job_version), "state": run_state,
        "author": format!("herald-launch:{}", item.queue),
    }))
    .expect("every field is a string the item already holds, checked when it was enqueued");
    let key = format!(
        "launch:{}:{}:{}",
        item.id,
        item.attempts,
        run_state.as_str()
    );
    ingest
        .events(entity_id, vec![(Event::new(input), Some(key))])
        .await?;
    Ok(())
}
