//! Back-pressure through the real binary: past `[delivery] max_backlog` executions due, event
//! posts are answered 503 `busy` with `Retry-After: 1` and counted, and taken again once the
//! backlog drains, nothing lost.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::{ADMIN_KEY, Receiver, Server, create_integration, eventually};
use crate::operations::{HEALTH_CONFIG, all_in, automation, link};

#[tokio::test]
async fn past_the_backlog_bound_event_posts_wait_until_it_drains() {
    // A receiver that holds every request until the gate opens (at the latest when the test
    // ends, so that a failure never leaves its threads waiting).
    struct Gate(std::sync::Mutex<bool>, std::sync::Condvar);
    impl Gate {
        fn open(&self) {
            *self.0.lock().unwrap() = true;
            self.1.notify_all();
        }
    }
    struct OpenOnDrop(Arc<Gate>);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }
    let gate = Arc::new(Gate(
        std::sync::Mutex::new(false),
        std::sync::Condvar::new(),
    ));
    let _opened_at_the_end = OpenOnDrop(gate.clone());
    let receiver = {
        let gate = gate.clone();
        Receiver::start(move |_, _| {
            let _open = gate
                .1
                .wait_while(gate.0.lock().unwrap(), |open| !*open)
                .unwrap();
            (200, vec![], "ok".into())
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let config = HEALTH_CONFIG.replace("request_timeout = \"2s\"", "request_timeout = \"30s\"")
        + "max_backlog = 3\n";
    let server = Server::start_with(
        dir.path(),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/ci")}),
    )
    .await;
    automation(&admin, "deploy", "ci").await;

    // One attempt runs (held by the receiver), the rest wait: past three, posts are refused.
    let mut accepted = Vec::new();
    let mut n = 0;
    let refused = eventually(Duration::from_secs(15), "a post refused", async || {
        n += 1;
        let (status, body) = admin.post("/v1/events", &link(&format!("v{n}"))).await;
        match status {
            202 => {
                accepted.push(body["event_id"].as_str().unwrap().to_string());
                Err(format!("{} accepted", accepted.len()))
            }
            _ => Ok((status, body)),
        }
    })
    .await;
    assert_eq!(
        (refused.0, refused.1["error"]["code"].as_str()),
        (503, Some("busy")),
        "{}",
        refused.1
    );
    assert!(accepted.len() >= 3, "{accepted:?}");
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/events", server.url))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(link("raw").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 503);
    assert_eq!(raw.headers()["retry-after"], "1");
    let metrics = crate::common::metrics_text(&server).await;
    let refusals = metrics
        .lines()
        .find(|l| l.starts_with("herald_events_refused_backlog_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok());
    assert!(refusals.is_some_and(|n| n >= 2.0), "{metrics}");

    // The receiver lets go: the backlog drains, posts are taken again, everything is delivered.
    gate.open();
    let later = eventually(
        Duration::from_secs(15),
        "a post accepted again",
        async || {
            let (status, body) = admin.post("/v1/events", &link("after")).await;
            match status {
                202 => Ok(body["event_id"].as_str().unwrap().to_string()),
                _ => Err(body.to_string()),
            }
        },
    )
    .await;
    accepted.push(later);
    for event in &accepted {
        all_in(&admin, event, "succeeded").await;
    }
}
