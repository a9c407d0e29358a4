//! Several hosts on one PostgreSQL database, through real `herald serve` processes: work is shared
//! and delivered once, a killed host's claims are finished by the other after their lease, rate
//! limits, idempotency keys, automations, key deletions and plugin installs hold across hosts, and
//! a database
//! restarted under load costs 503s, never an acknowledged event. (These tests pick their database
//! themselves, so the PostgreSQL pass of `cargo xtask test` skips them rather than run them twice.)
//!
//! Shared here: hosts on one database and the waits; `hosts.rs` shares work between hosts,
//! `state.rs` the state they share and database faults.

mod hosts;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, FAST_DELIVERY_CONFIG, INGEST_ONLY_CONFIG, Receiver, Server,
    automation_on_links, create_automation, create_integration, eventually, expect_status, fixture,
    member_key, new_database, post_event, settled, settled_all, upload_plugin,
};

/// The master key every host of a test shares (secrets sealed by one are opened by the other).
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Starts a host on `database` with its own data directory under `dir`.
fn host(dir: &std::path::Path, name: &str, database: &str, config: &str) -> Server {
    Server::start_with(
        &dir.join(name),
        config,
        &[
            ("HERALD_BOOTSTRAP_KEY", ADMIN_KEY),
            ("HERALD_DATABASE_URL", database),
            ("HERALD_MASTER_KEY", MASTER_KEY),
        ],
        &[],
    )
}

fn link(collection: &str, version: &str) -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
           "collection": collection, "version": version, "author": "ana"})
}

/// A webhook integration to `url` and an automation `name` sending to it every artifact linked
/// to `collection`; the automation's id.
async fn webhook_on_links(admin: &Api, url: String, name: &str, collection: &str) -> String {
    create_integration(
        admin,
        json!({"name": "hook", "kind": "webhook", "url": url}),
    )
    .await;
    create_automation(
        admin,
        json!({"name": name, "scope": {"type": "collection", "registry": "models", "collection": collection},
               "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "webhook", "integration": "hook"}}),
    )
    .await
}

/// Posts `event` to `api` until it matches an automation (the host's index has caught up with a
/// change made on another host); panics after `limit`. Returns the event ids posted.
async fn until_matched(api: &Api, event: &Value, limit: Duration) -> Vec<String> {
    let mut posted = Vec::new();
    let what = "the automation created on the other host to match here";
    eventually(limit, what, async || {
        let answer = api.post("/v1/events", event).await;
        let body = expect_status(&answer, 202);
        posted.push(body["event_id"].as_str().unwrap().to_string());
        if body["matched"] == 1 {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;
    posted
}

/// Waits until the automation has `count` executions, all final; returns them.
async fn all_final(api: &Api, automation: &str, count: usize, limit: Duration) -> Vec<Value> {
    let what = format!("{count} final executions of {automation}");
    eventually(limit, &what, async || {
        let (_, listed) = api
            .get(&format!(
                "/v1/automations/{automation}/executions?limit=1000"
            ))
            .await;
        let executions = listed["executions"].as_array().cloned().unwrap_or_default();
        let done = executions.iter().all(|e| {
            matches!(
                e["status"].as_str(),
                Some("succeeded" | "failed" | "skipped")
            )
        });
        if executions.len() == count && done {
            Ok(executions)
        } else {
            Err(format!("{} executions: {executions:?}", executions.len()))
        }
    })
    .await
}

/// Waits (up to 30 s) until `done`.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    eventually(Duration::from_secs(30), what, async || {
        if done() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
}

fn sample(step: u64, loss: f64) -> Value {
    json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": "r1",
           "step": step, "metrics": {"loss": loss}})
}

/// The version of `name` the host lists, if it lists it.
async fn listed_version(api: &Api, name: &str) -> Option<String> {
    let (_, listed) = api.get("/v1/plugins").await;
    listed["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["version"].as_str().unwrap().to_string())
}

/// Waits until the host lists `name` at `version` (`None`: not at all).
async fn until_listed(api: &Api, name: &str, version: Option<&str>) {
    let what = format!("{name} to be listed at {version:?}");
    eventually(Duration::from_secs(10), &what, async || {
        let listed = listed_version(api, name).await;
        if listed.as_deref() == version {
            Ok(())
        } else {
            Err(format!("{listed:?}"))
        }
    })
    .await;
}
