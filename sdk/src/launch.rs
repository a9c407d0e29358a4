//! Launch queues.

use crate::__bindings::herald::plugin::launch as wit;

/// Enqueues a run of `job` on `queue` with config overrides; returns the queue item's id.
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
