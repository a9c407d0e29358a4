//! Herald's end-to-end tests, one binary (so that cargo links the harness and the `herald`
//! binary's dependencies once): the real `herald` binary, real components built from `plugins/`,
//! real HTTP receivers on 127.0.0.1, real SQLite files. One module per area, each line below
//! saying what it covers; the shared harness is [`common`].

mod common; // the harness: server, receivers, API client, waits, README examples

mod agents; // agent identity, private run directories, live output, `--run-as`
mod api; // every route's statuses, the permission matrix, matching, restart
mod architecture; // the layers ARCHITECTURE.md lists, enforced on the imports
mod audit; // who changed what, when
mod backpressure; // event posts refused while the delivery backlog is past its bound
mod cli; // the client subcommands against a real server
mod console; // the console's reference workflows in Chromium
mod console_api; // the session cookie and what keeps it safe, over plain HTTP
mod contract; // the OpenAPI document and the server agree, for generated requests
mod delivery; // signatures, retries, rate limits, kills and shutdowns
mod egress; // the egress policy at send time
mod launch; // jobs, queues, items and the launch-job action
mod operations; // failing integrations disabled, held and enabled again
mod plugin_install; // installing and replacing plugins while the server runs
mod plugin_scaffold; // `herald plugin new` for Rust, Python and JavaScript
mod plugin_walkthrough; // the README's "Writing a plugin" walkthrough, literally
mod plugins; // the built-in Slack, Teams, GitHub dispatch and no-op plugins
mod postgres; // several hosts on one PostgreSQL database, and its faults
mod retention; // old history purged, the database shrinking
mod run_liveness; // silent runs reported crashed
mod run_metrics; // threshold, change and z-score conditions
mod run_property; // random runs against an independent evaluation
mod run_rules; // the rules a run's history depends on (windows, steps, cooldowns)
mod sandbox; // hostile components against the sandbox
mod security; // what an ordinary key or a full disk must not achieve
mod serve; // `herald serve` on its defaults
mod sqlite_faults; // storage faults on a small real filesystem
mod store_contract; // the Store interface on SQLite and PostgreSQL alike
mod tasks; // recover and bulk retry as background tasks
mod trust; // trust inside one team: secrets only where an admin granted them
mod webhook_plugin; // the webhook plugin through `herald plugin run --send`
