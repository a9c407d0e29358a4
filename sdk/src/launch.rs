//! Launch queues.

use crate::__bindings::herald::plugin::launch as wit;

/// Enqueues a run of `job` on `queue` with config overrides; returns the queue item's id.
///
/// # Example
///
/// ```no_run
/// # fn f() -> Result<(), herald_sdk::ActionError> {
/// let item = herald_sdk::launch::enqueue("gpu", "evaluate", &serde_json::json!({"epochs": 3}), 0)
///     .map_err(herald_sdk::ActionError::Invalid)?;
/// herald_sdk::info!("enqueued {item}");
/// # Ok(()) }
/// ```
pub fn enqueue(
    queue: &str,
    job: &str,
    config: &serde_json::Value,
    priority: i32,
) -> Result<String, String> {
    wit::enqueue(&wit::RunRequest {
        queue: queue.into(),
        job: job.into(),
        config: config.to_string(),
        priority,
    })
}
