//! Herald's end-to-end tests, one binary (so that cargo links the harness and the `herald`
//! binary's dependencies once): the real `herald` binary, real components built from `plugins/`,
//! real HTTP receivers on 127.0.0.1, real SQLite files. One module per area; the shared harness is
//! [`common`].

mod common;

mod agents;
mod api;
mod architecture;
mod browser;
mod cli;
mod console;
mod console_api;
mod contract;
mod delivery;
mod egress;
mod launch;
mod plugin_install;
mod plugin_scaffold;
mod plugin_walkthrough;
mod plugins;
mod postgres;
mod run_liveness;
mod run_metrics;
mod run_property;
mod run_rules;
mod sandbox;
mod security;
mod serve;
mod sqlite_faults;
mod trust;
mod webhook_plugin;
