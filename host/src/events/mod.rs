//! Events: the model clients post, the variables an event exposes to templates and plugins,
//! payload templates rendered on the JSON tree, and ingest (matching, storing, hand-over).

pub mod event;
pub mod filter;
pub mod ingest;
pub mod liveness;
pub mod retention;
pub mod template;
pub mod variables;

pub use event::{Event, EventInput, EventType, FieldError, RunState};
pub use template::{Template, TemplateError};
pub use variables::{MetricContext, VARIABLES, VariableDoc, Variables, variable_names};

/// Milliseconds since the Unix epoch of a point in time (0 before it).
pub fn unix_ms(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
