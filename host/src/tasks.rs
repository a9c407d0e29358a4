//! The background tasks' runner: every host claims a running task no live lease holds (one just
//! created here, or one whose host died) and runs it batch by batch, waking the dispatcher for
//! what each batch queued again. A batch is one transaction over a bounded slice of the task's
//! window, so a task over millions of executions never holds the database for long.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::delivery::handoff::DeliveryLink;
use crate::ids::ExecutionId;
use crate::model::instant;
use crate::store::{Store, unix_millis};

/// The widest window a task covers: 14 days.
pub const MAX_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);

/// Why a task's window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A time is not RFC 3339.
    #[error("{0}")]
    Invalid(String),
    /// The window is empty or too wide.
    #[error("{0}")]
    Refused(String),
}

/// The window `[since, until)` (RFC 3339; `until` defaults to now) as the range of execution
/// ids created in it: at most [`MAX_WINDOW`] wide, not empty.
pub fn window(since: &str, until: Option<&str>) -> Result<(String, String), WindowError> {
    let ms = |field: &str, text: &str| {
        instant::parse(text)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|e| WindowError::Invalid(format!("{field}: not an RFC 3339 time: {e}")))
    };
    let from = ms("since", since)?;
    let to = match until {
        Some(text) => ms("until", text)?,
        None => unix_millis(),
    };
    if from >= to {
        return Err(WindowError::Refused(
            "since: must be before until (or now)".into(),
        ));
    }
    if to - from > MAX_WINDOW.as_millis() as i64 {
        return Err(WindowError::Refused(
            "since: the window from since to until is at most 14 days".into(),
        ));
    }
    Ok((ExecutionId::floor_at(from), ExecutionId::floor_at(to)))
}

/// Executions a batch looks at.
const SCAN: u32 = 2_000;
/// How long a claim on a task holds between two batches.
const LEASE: Duration = Duration::from_secs(30);
/// How often to look for tasks when nothing wakes the runner (tasks of hosts that died).
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Runs forever: claims tasks and runs them to their end. `wake` is notified when a task is
/// created on this host.
pub async fn run_tasks(store: Store, delivery: DeliveryLink, wake: Arc<Notify>, owner: String) {
    let lease_ms = LEASE.as_millis() as i64;
    loop {
        match store.claim_task(&owner, lease_ms).await {
            Ok(Some((_, task))) => {
                tracing::info!(task = %task.id, kind = task.kind.as_str(), "running a task");
                loop {
                    match store.run_task_batch(&task.id, &owner, lease_ms, SCAN).await {
                        Ok(Some(batch)) => {
                            if batch.requeued > 0 {
                                delivery.wake();
                            }
                            if batch.done {
                                tracing::info!(task = %task.id, "task finished");
                                break;
                            }
                        }
                        Ok(None) => {
                            tracing::warn!(task = %task.id, "lost the claim on a task; another host goes on with it");
                            break;
                        }
                        Err(error) => {
                            // The lease lapses and the task is claimed again (here or elsewhere).
                            tracing::warn!(task = %task.id, %error, "a task's batch failed; it goes on later");
                            break;
                        }
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "looking for tasks failed; looking again later"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}
