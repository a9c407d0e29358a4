//! Run state coming back: each start, finish and failure of a queue item is recorded as a
//! `RUN_STATE` event for its run, through ingest like any posted event, so that automations on run
//! states fire for launched runs too.

use serde_json::json;

use crate::ingest::Ingest;
use crate::model::event::{Event, EventInput, MAX_OUTPUT_TAIL_BYTES, RunState};
use crate::store::{ItemRecord, StoreError};

/// The reason a run is reported `FAILED` when its agent stopped reporting and it ran out of
/// claims.
pub const LOST: &str = "its agent stopped reporting and it ran out of attempts";

/// The lines of a run's output an event carries: the last [`TAIL_LINES`], at most
/// [`MAX_OUTPUT_TAIL_BYTES`].
const TAIL_LINES: usize = 20;

/// Records `run_state` for the item's run in its project (idempotent per attempt and state: an
/// agent retrying its request creates nothing new). An item that ended carries its exit code and
/// the last lines of its output; `reason` says why, when the state alone does not (`cancelled`).
pub async fn report_run(
    ingest: &Ingest,
    entity_id: i64,
    entity: &str,
    item: &ItemRecord,
    run_state: RunState,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let mut fields = json!({
        "type": "RUN_STATE", "entity": entity, "project": item.project, "run_id": item.run_id,
        "run_name": format!("{}@{}", item.job, item.job_version), "state": run_state,
        "author": format!("herald-launch:{}", item.queue),
    });
    if let Some(reason) = reason {
        fields["reason"] = reason.into();
    }
    if let Some(code) = item.exit_code {
        fields["exit_code"] = code.into();
        fields["output_tail"] = output_tail(item.output.as_deref().unwrap_or_default()).into();
    }
    let input: EventInput = serde_json::from_value(fields)
        .expect("every field is a string the item already holds, checked when it was enqueued");
    let key = format!(
        "launch:{}:{}:{}",
        item.id,
        item.attempts,
        run_state.as_str()
    );
    ingest
        .events(
            entity_id,
            vec![(Event::new(input).of_launched_run(), Some(key))],
        )
        .await?;
    Ok(())
}

/// The last [`TAIL_LINES`] lines of `output`, at most [`MAX_OUTPUT_TAIL_BYTES`].
fn output_tail(output: &str) -> String {
    let trimmed = output.trim_end();
    let mut start = trimmed
        .rmatch_indices('\n')
        .nth(TAIL_LINES - 1)
        .map_or(0, |(at, _)| at + 1);
    start = start.max(trimmed.len().saturating_sub(MAX_OUTPUT_TAIL_BYTES));
    while !trimmed.is_char_boundary(start) {
        start += 1;
    }
    trimmed[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines_within_the_limit() {
        let output: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let tail = output_tail(&output);
        assert!(
            tail.starts_with("line 11\n") && tail.ends_with("line 30"),
            "{tail}"
        );
        let long = "é".repeat(MAX_OUTPUT_TAIL_BYTES);
        let tail = output_tail(&long);
        assert!(tail.len() <= MAX_OUTPUT_TAIL_BYTES && tail.len() > MAX_OUTPUT_TAIL_BYTES - 4);
        assert_eq!(output_tail(""), "");
    }
}
