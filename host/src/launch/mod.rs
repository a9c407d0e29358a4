//! Launch: per-entity queues and the items on them that agents claim and run — enqueueing, from a
//! user or from the `launch-job` plugin. The nouns (jobs, items, output) are `model/launch.rs`;
//! SQL is in `store/launch.rs`, routes in `api/launch.rs`; what a launched run reports comes back
//! as events through `leases/` (claims, heartbeats, finishes, and leases that lapse).

pub mod enqueue;

pub use crate::model::launch::*;
pub use crate::model::output::{OUTPUT_TAIL_BYTES, OutputChunk, StoredOutput, output_tail};
