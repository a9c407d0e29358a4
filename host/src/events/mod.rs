//! Events: the model clients post, the variables an event exposes to templates and plugins,
//! payload templates rendered on the JSON tree, and ingest (matching, storing, hand-over).

pub mod event;
pub mod filter;
pub mod ingest;
pub mod template;
pub mod variables;

pub use event::{Event, EventInput, EventType, FieldError, RunState};
pub use template::{Template, TemplateError};
pub use variables::{VARIABLE_NAMES, Variables};
