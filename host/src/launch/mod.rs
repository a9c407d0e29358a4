//! Launch: per-entity queues and the items on them that agents claim and run — enqueueing,
//! reporting run states back through ingest, and the sweep of lapsed leases. The nouns (jobs,
//! items, output) are `model/launch.rs`; SQL is in `store/launch.rs`, routes in `api/launch.rs`.

pub mod enqueue;
pub mod report;
pub mod sweep;

pub use crate::model::launch::*;
pub use crate::model::output::{OUTPUT_TAIL_BYTES, OutputChunk, StoredOutput, output_tail};
