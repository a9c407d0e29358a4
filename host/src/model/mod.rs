//! The shared nouns, at the bottom of the layers: what events, automations, executions,
//! integrations and launch items are, as every layer above sees them (the store stores them, the
//! domain acts on them, the API shows them). Nothing here imports anything of Herald's but ids.

pub mod audit;
pub mod automation;
pub mod event;
pub mod event_type;
pub mod execution;
pub mod instant;
pub mod integration;
pub mod launch;
pub mod metric;
pub mod output;
pub mod task;
pub mod whole;
