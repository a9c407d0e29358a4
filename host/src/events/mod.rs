//! The event language: the variables an event exposes to templates and plugins, filters over
//! them, and payload templates rendered on the JSON tree. The event itself is `model/event.rs`;
//! taking events in is `ingest/`.

pub mod filter;
pub mod template;
pub mod variables;

pub use crate::model::event;
pub use crate::model::event::{
    Event, EventInput, EventType, FieldError, MetricContext, RunState, unix_ms,
};
pub use template::{Template, TemplateError};
pub use variables::{VARIABLES, VariableDoc, Variables, variable_names};
