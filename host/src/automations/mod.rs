//! Automations: the definition (scope, trigger, action, rate limit), the rules that make one
//! valid, compiling one for matching, and the in-memory index that matches events against them.

mod compile;
pub mod explain;
pub mod grants;
pub mod index;
pub mod metric;
pub mod ratelimit;
mod rules;
pub mod runs;
pub mod validate;

pub use crate::model::automation::{
    ActionSpec, Automation, AutomationInput, AutomationPatch, RateLimit, Scope, ScopeKind, Trigger,
    TriggerKind,
};
pub use compile::compile;
pub use rules::{DefinitionError, check_definition};
