//! Herald: a self-hosted automation runtime. Events from ML projects and model registries
//! trigger actions, and every action type is a sandboxed WebAssembly component.
//!
//! The crate is both the `herald` binary and a library (the integration tests and the benchmark
//! use it). Modules, each owning one concern: [`engine`] (the Wasm sandbox), [`plugins`]
//! (installed components), [`delivery`] (outbound HTTP, signatures, redaction), [`events`] (the
//! event model, variables and payload templates), [`api`] (HTTP routes), [`cli`] and [`config`].

pub mod api;
pub mod app;
pub mod auth;
pub mod automations;
pub mod bounded;
pub mod cli;
pub mod config;
pub mod console;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod events;
pub mod ids;
pub mod ingest;
pub mod launch;
pub mod leases;
pub mod metrics;
pub mod model;
pub mod plugins;
pub mod retention;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tasks;

/// `herald/<version>`: the User-Agent of every request Herald sends.
pub const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));
