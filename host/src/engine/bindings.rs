//! Host bindings for the `herald:plugin/action` world, generated from `wit/` at compile time.

wasmtime::component::bindgen!({
    world: "action",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use herald::plugin::http::{HttpError, Request as HttpRequest, Response as HttpResponse};
pub use herald::plugin::launch::RunRequest;
pub use herald::plugin::log::Level as LogLevel;
pub use herald::plugin::types::{Header, TransientFailure};
