//! Automations: the definition (scope, trigger, action, rate limit), the rules that make one
//! valid, compiling one for matching, and the in-memory index that matches events against them.

mod compile;
pub mod grants;
pub mod index;
pub mod metric;
mod model;
pub mod ratelimit;
mod rules;
pub mod runs;

pub use compile::compile;
pub use model::{
    ActionSpec, Automation, AutomationInput, AutomationPatch, RateLimit, Scope, ScopeKind, Trigger,
    TriggerKind,
};
pub use rules::{DefinitionError, check_definition};
