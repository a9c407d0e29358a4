//! The web console in a real headless Chromium against the real binary: the reference workflows
//! (secret, integration and its Test, the automation steps, an event, its execution, failure and
//! Retry), errors at their fields, what a member may see, markup shown as text, and requests
//! forged from another origin.
//!
//! Shared here: waiting on a status, sending an event; `workflows.rs` walks the reference
//! workflows, `safety.rs` what the console must never do.

mod accessibility;
mod history;
mod keyboard;
mod navigation;
mod operations;
mod safety;
mod why;
mod workflows;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::common::browser::Page;
use crate::common::{
    ADMIN_KEY, Receiver, Server, create_integration, expect_status, member_key, put_secret,
};

/// Waits on an execution page until its status is `status`, refreshing it as a person would.
async fn until_status(page: &Page, status: &str) {
    for _ in 0..200 {
        let shown = page.text_of("#execution-status").await;
        if shown.trim() == status {
            return;
        }
        page.click_text("Refresh").await;
        page.rendered().await;
    }
    panic!("the execution never became {status}");
}

/// Sends an alias event through the "Send an event" form; returns on the event's page.
async fn send_alias_event(page: &Page, version: &str) {
    page.goto("/#/send-event").await;
    page.choose("select[name=type]", "ADD_ARTIFACT_ALIAS").await;
    page.choose("select[name=place]", "registry").await;
    page.type_into("input[name=registry]", "model-registry")
        .await;
    page.type_into("input[name=collection]", "churn").await;
    page.type_into("input[name=version]", version).await;
    page.type_into("input[name=alias]", "production").await;
    page.click_text("Send event").await;
    page.until_text("it triggered 1 automation").await;
    page.click_text("See the event and its executions").await;
    page.until_text("Executions it triggered").await;
}
