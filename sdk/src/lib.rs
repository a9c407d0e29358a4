//! `herald-sdk`: write a Herald action plugin as a plain Rust type.
//!
//! A plugin is a WebAssembly component that implements the `herald:plugin/plugin` world
//! (`wit/plugin.wit`). This crate hides the generated bindings: you implement [`Action`] on a type,
//! say what config it takes as a plain Rust type (its JSON Schema is derived from the type and
//! enforced by the host), export it with [`export_action!`], and build with
//! `cargo build --target wasm32-wasip2 --release`. The only way out of the sandbox is the host:
//! [`http`] (the host checks the destination, adds credentials and signatures), [`log`] and
//! [`launch`].
//!
//! # Example
//!
//! A complete plugin that posts the rendered payload (or a small default document) to the
//! integration's URL:
//!
//! ```no_run
//! use herald_sdk::{Action, ActionError, Invocation, NoConfig, Outcome, PluginInfo, http};
//! use serde_json::json;
//!
//! struct Echo;
//!
//! impl Action for Echo {
//!     type Config = NoConfig;
//!
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("echo", env!("CARGO_PKG_VERSION"), "Posts the event to a URL.")
//!             .integration_kinds(&["webhook"])
//!     }
//!
//!     fn execute(invocation: Invocation, _config: NoConfig) -> Result<Outcome, ActionError> {
//!         let url = invocation.integration_url()?;
//!         let body = match invocation.payload() {
//!             Some(rendered) => rendered.as_bytes().to_vec(),
//!             None => serde_json::to_vec(&json!({
//!                 "event": invocation.event_type(),
//!                 "author": invocation.var_str("event_author"),
//!             }))
//!             .expect("a JSON value always serialises"),
//!         };
//!         let response = http::Request::post(url).json_bytes(body).send()?;
//!         let response = response.classify()?;
//!         Ok(Outcome::delivered(response.status))
//!     }
//! }
//!
//! herald_sdk::export_action!(Echo);
//! ```

#![deny(missing_docs)]

// The generated bindings name this crate by its external path so that `export_action!` works
// in plugin crates; this alias makes the same path resolve inside the SDK itself.
extern crate self as herald_sdk;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

mod config;
mod info;
mod invocation;
mod notify;
mod outcome;

pub mod http;
pub mod launch;
pub mod log;
pub mod text;

#[doc(hidden)]
#[path = "export.rs"]
pub mod __export;

pub use config::NoConfig;
pub use info::PluginInfo;
pub use invocation::Invocation;
pub use notify::{EventFacts, Severity};
pub use outcome::{ActionError, Outcome};

#[doc(hidden)]
pub mod __bindings {
    //! The wit-bindgen output for the `herald:plugin/plugin` world; not part of the SDK's API.
    wit_bindgen::generate!({
        world: "plugin",
        // The SDK's own copy, so that it builds from a git or registry dependency too (a test
        // keeps it identical to the repository's `wit/`).
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "herald_sdk::__bindings",
        runtime_path: "herald_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Exports a type implementing [`Action`] as the plugin's entry points.
///
/// Use it once per plugin crate, at the crate root: `herald_sdk::export_action!(MyAction);`.
///
/// # Example
///
/// ```no_run
/// use herald_sdk::{Action, ActionError, Invocation, NoConfig, Outcome, PluginInfo};
///
/// struct Ping;
///
/// impl Action for Ping {
///     type Config = NoConfig;
///     fn describe() -> PluginInfo {
///         PluginInfo::new("ping", "0.1.0", "Does nothing, successfully.")
///     }
///     fn execute(_invocation: Invocation, _config: NoConfig) -> Result<Outcome, ActionError> {
///         Ok(Outcome::note("pong"))
///     }
/// }
///
/// herald_sdk::export_action!(Ping);
/// ```
#[macro_export]
macro_rules! export_action {
    ($ty:ty) => {
        #[doc(hidden)]
        struct __HeraldExport;

        impl $crate::__export::Guest for __HeraldExport {
            fn describe() -> $crate::__export::wit::PluginInfo {
                $crate::__export::describe::<$ty>()
            }
            fn validate_config(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__export::validate_config::<$ty>(config)
            }
            fn execute(
                invocation: $crate::__export::wit::Invocation,
            ) -> ::core::result::Result<$crate::__export::wit::Outcome, $crate::__export::wit::ActionError> {
                $crate::__export::execute::<$ty>(invocation)
            }
        }

        $crate::__bindings::__export_plugin_world!(__HeraldExport with_types_in $crate::__bindings);
    };
}

/// An action plugin. Implement it on a plain type and export the type with [`export_action!`].
///
/// # Example
///
/// A chat-style action whose config names a channel, with a rule the schema cannot say:
///
/// ```no_run
/// use herald_sdk::{Action, ActionError, Invocation, Outcome, PluginInfo, http};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// The action config.
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     /// The channel to post to, e.g. `#ml-alerts`.
///     channel: String,
/// }
///
/// struct Chat;
///
/// impl Action for Chat {
///     type Config = Config;
///
///     fn describe() -> PluginInfo {
///         PluginInfo::new("chat", "0.1.0", "Posts a line to a channel.").integration_kinds(&["webhook"])
///     }
///
///     fn check_config(config: &Config) -> Result<(), String> {
///         if config.channel.starts_with('#') {
///             Ok(())
///         } else {
///             Err(format!("channel: {:?} must start with #", config.channel))
///         }
///     }
///
///     fn execute(invocation: Invocation, config: Config) -> Result<Outcome, ActionError> {
///         let text = format!("{} in {}", invocation.event_type(), invocation.var_str("project_name"));
///         let response = http::Request::post(invocation.integration_url()?)
///             .json(&serde_json::json!({"channel": config.channel, "text": text}))
///             .send()?
///             .classify()?;
///         Ok(Outcome::delivered(response.status))
///     }
/// }
///
/// herald_sdk::export_action!(Chat);
/// ```
pub trait Action {
    /// The action config an automation gives (`action.config`), as a Rust type. Its JSON Schema
    /// is derived from the type (doc comments become descriptions, `#[serde(default)]` fields are
    /// optional, `#[serde(deny_unknown_fields)]` refuses unknown keys) and published by
    /// `describe`; the host checks every config against it before the plugin sees it. Use
    /// [`NoConfig`] for an action that takes none.
    type Config: DeserializeOwned + JsonSchema;

    /// Says what the plugin is; called once when the host loads it. Must not do I/O.
    fn describe() -> PluginInfo;

    /// Checks what the schema cannot say (rules across fields, formats) when an automation is
    /// saved. The error text is shown to the user (the API answers 422 with it). The default
    /// accepts every config that parses.
    fn check_config(config: &Self::Config) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Runs the action once for one event, with the automation's config already parsed and
    /// checked.
    fn execute(invocation: Invocation, config: Self::Config) -> Result<Outcome, ActionError>;
}
