//! Host bindings for the `herald:plugin/plugin` world, generated from `wit/` at compile time.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use herald::plugin::http::{HttpError, Request as HttpRequest, Response as HttpResponse};
pub use herald::plugin::launch::RunRequest;
pub use herald::plugin::log::Level as LogLevel;
pub use herald::plugin::types::{
    ActionError, Header, Invocation, Outcome, PluginInfo, TransientFailure,
};
