//! Delivery: the dispatcher and its attempts, retries, outbound HTTP with the egress policy,
//! signatures and redaction.

pub mod attempt;
mod backoff;
pub mod config;
pub mod credentials;
pub mod egress;
pub mod handoff;
pub mod integrations;
pub mod operational;
pub use crate::model::integration;
pub mod outbound;
pub mod record;
pub mod redact;
pub mod signing;
pub use crate::model::execution as status;
pub mod transport;
pub mod verdict;
pub mod worker;
