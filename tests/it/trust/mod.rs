//! Trust inside one team, through the real binary: a member sends a secret only where an admin
//! granted it, a hostile plugin behind an echoing receiver gets no secret back out, every encoded
//! form of a secret an echo returns is redacted, integrations stored before grants existed are
//! granted exactly what their automations use, and the smaller holes found on the way (batch
//! idempotency keys, plugin sources, `/metrics` on its own address, filter fields no event has).
//!
//! Shared here: encodings of a secret and the link automation; `secrets.rs` follows secrets,
//! `boundaries.rs` the other lines a member may not cross.

mod boundaries;
mod secrets;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, FAST_DELIVERY_CONFIG, INGEST_ONLY_CONFIG, Receiver, Recorded, Server,
    create_integration, expect_status, fixture, member, on_postgres, post_event, put_secret,
    settled_all, upload_plugin,
};

/// The base64 characters that `bytes` alone determine when they start `offset` bytes into a
/// longer encoded text (written here independently of the host's redactor).
fn base64_inside(engine: &impl base64::Engine, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![b'.'; offset];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let start = (8 * offset).div_ceil(6);
    let end = 8 * (offset + bytes.len()) / 6;
    encoded[start..end].to_string()
}

/// Every form of a secret that must not appear where a member (or a plugin) can read it.
fn every_form(secret: &str) -> Vec<String> {
    let escape = |text: &str| {
        let json = serde_json::to_string(text).unwrap();
        json[1..json.len() - 1].to_string()
    };
    let percent: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut forms = vec![
        secret.to_string(),
        escape(secret),
        escape(&escape(secret)),
        percent,
        hex::encode(secret),
        hex::encode_upper(secret),
        secret.chars().rev().collect(),
    ];
    for offset in 0..3 {
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            forms.push(base64_inside(engine, secret.as_bytes(), offset));
        }
    }
    forms
}

#[track_caller]
fn assert_no_secret(what: &str, haystack: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in every_form(secret) {
            assert!(
                !haystack.contains(&form),
                "{what} holds a form of a secret ({form}):\n{}",
                &haystack[..haystack.len().min(4000)]
            );
        }
    }
}

fn link_event() -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
           "collection": "churn", "version": "v1", "author": "ana"})
}

fn on_links(name: &str, action: Value) -> Value {
    json!({"name": name, "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
           "action": action})
}

/// A receiver that answers with everything it was sent (body and headers), as many do.
fn echo(_: usize, request: &Recorded) -> (u16, Vec<(&'static str, String)>, String) {
    let mut text = String::from_utf8_lossy(&request.body).into_owned();
    for (name, value) in &request.headers {
        text.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or_default()));
    }
    (200, vec![("x-echo-length", text.len().to_string())], text)
}

/// Every encoding of what was received that a receiver might answer with.
fn encoded_echo(_: usize, request: &Recorded) -> (u16, Vec<(&'static str, String)>, String) {
    let mut received = String::from_utf8_lossy(&request.body).into_owned();
    received.push_str(&request.header("authorization"));
    let json = serde_json::to_string(&received).unwrap();
    let mut escaped = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            escaped.push(c);
        } else {
            escaped.push_str(&format!("\\u{:04X}", c as u32));
        }
    }
    let mut lines = vec![
        received.clone(),
        json,
        escaped,
        url::form_urlencoded::byte_serialize(received.as_bytes()).collect(),
        hex::encode(&received),
        hex::encode_upper(&received),
    ];
    for prefix in ["", "x", "xy"] {
        let shifted = format!("{prefix}{received}");
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            lines.push(engine.encode(&shifted));
        }
    }
    let header = STANDARD.encode(request.header("authorization"));
    (200, vec![("x-echo-auth", header)], lines.join("\n"))
}

/// Takes a database back to what it is right after the grants migration (`0006` on SQLite,
/// `0003` on PostgreSQL) ran on a database of the previous release: the column is there and no
/// integration has granted anything yet, not even an empty list.
async fn forget_grants(data_dir: &std::path::Path) {
    const UNGRANT: &str = "UPDATE integrations SET granted_secrets = NULL";
    if on_postgres() {
        let url = std::fs::read_to_string(data_dir.join("test-database-url")).unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        client.batch_execute(UNGRANT).await.unwrap();
        drop(client);
        let _ = task.await;
    } else {
        let db = rusqlite::Connection::open(data_dir.join("herald.db")).unwrap();
        db.execute_batch(UNGRANT).unwrap();
    }
}
