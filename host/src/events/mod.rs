//! Events: the model clients post, the variables an event exposes to templates and plugins,
//! payload templates rendered on the JSON tree, and ingest (matching, storing, hand-over).

pub mod filter;
pub mod ingest;
pub mod liveness;
pub mod retention;
pub mod template;
pub mod variables;

pub use crate::model::event;
pub use crate::model::event::{
    Event, EventInput, EventType, FieldError, MetricContext, RunState, unix_ms,
};
pub use template::{Template, TemplateError};
pub use variables::{VARIABLES, VariableDoc, Variables, variable_names};
