//! Retention through the real binary: events past `[retention] events` go with their executions
//! and attempts once those have finished, one still to deliver (held) stays, and the SQLite
//! database gives the space back to the filesystem; attempts past `[retention] attempt_bodies`
//! keep their statuses and headers but not their bodies.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Receiver, Server, automation_on_links, eventually, expect_status, post_event,
};

const CONFIG: &str = r#"
[egress]
allow_cidrs = ["127.0.0.0/8"]
[delivery]
retry_schedule = ["200ms"]
jitter = 0.0
poll_interval = "50ms"
[retention]
events = "3s"
purge_interval = "250ms"
"#;

/// The bytes of the database and its WAL.
fn database_bytes(dir: &std::path::Path) -> u64 {
    ["herald.db", "herald.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn old_events_go_with_their_executions_and_the_database_shrinks() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        CONFIG,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    // Each delivery carries 4 KiB, recorded with its attempt.
    let filler = "x".repeat(4096);
    automation_on_links(
        &admin,
        "deploy",
        &receiver.url("/hook"),
        json!({"type": "webhook", "payload": {"version": "${artifact_version}", "filler": filler}}),
    )
    .await;
    let link = |version: String| -> Value {
        json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
               "collection": "churn", "version": version})
    };
    let first = post_event(&admin, &link("v0".into())).await;
    for batch in 0..15 {
        let events: Vec<Value> = (0..100).map(|i| link(format!("b{batch}-{i}"))).collect();
        expect_status(
            &admin
                .post("/v1/events/batch", &json!({"events": events}))
                .await,
            202,
        );
    }
    receiver.wait_for(1501, Duration::from_secs(60)).await;
    // On PostgreSQL the space is reused (autovacuum), not given back: the file measure is
    // SQLite's.
    let sqlite = !crate::common::on_postgres();
    let full = database_bytes(dir.path());
    assert!(!sqlite || full > 6 << 20, "{full} bytes of history");

    // One that cannot be delivered yet (its integration disabled) outlives the retention.
    let disabled = admin
        .post("/v1/entities/default/integrations/ci/disable", &json!({}))
        .await;
    expect_status(&disabled, 200);
    let held = post_event(&admin, &link("held".into())).await;

    eventually(Duration::from_secs(30), "the history purged", async || {
        let (status, _) = admin.get(&format!("/v1/events/{first}")).await;
        let now = database_bytes(dir.path());
        if status == 404 && (!sqlite || now < full / 4) {
            Ok(())
        } else {
            Err(format!("first event {status}, {now} of {full} bytes"))
        }
    })
    .await;
    // Everything else ages out too; the held one stays whatever its age.
    eventually(
        Duration::from_secs(30),
        "only the held execution left",
        async || {
            let (_, listed) = admin.get("/v1/executions?limit=1000").await;
            let left: Vec<&str> = listed["executions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["status"].as_str())
                .collect();
            if left == ["held"] {
                Ok(())
            } else {
                Err(format!("{} executions left", left.len()))
            }
        },
    )
    .await;
    let (status, event) = admin.get(&format!("/v1/events/{held}")).await;
    assert_eq!(status, 200);
    assert_eq!(event["executions"][0]["status"], "held");
}

#[tokio::test]
async fn old_attempts_keep_their_statuses_and_headers_but_not_their_bodies() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[egress]
allow_cidrs = ["127.0.0.0/8"]
[delivery]
poll_interval = "50ms"
[retention]
events = "0s"
attempt_bodies = "2s"
audit = "0s"
purge_interval = "250ms"
"#;
    let server = Server::start_with(
        dir.path(),
        config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    automation_on_links(
        &admin,
        "deploy",
        &receiver.url("/hook"),
        json!({"type": "webhook", "payload": {"secretless": "a body worth 38 bytes"}}),
    )
    .await;
    let event = post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": "v1"}),
    )
    .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    let (_, read) = admin.get(&format!("/v1/events/{event}")).await;
    let execution = read["executions"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/executions/{execution}");
    // Read as soon as the attempt is recorded: the body is there.
    let fresh = eventually(
        Duration::from_secs(10),
        "the attempt recorded",
        async || {
            let (_, now) = admin.get(&path).await;
            if now["status"] == "succeeded" {
                Ok(now)
            } else {
                Err(now.to_string())
            }
        },
    )
    .await;
    let sent = fresh["attempt_log"][0]["requests"][0]["body"].clone();
    assert!(sent.as_str().unwrap().contains("a body worth"), "{fresh}");

    let aged = eventually(Duration::from_secs(20), "the body dropped", async || {
        let (_, now) = admin.get(&path).await;
        let request = &now["attempt_log"][0]["requests"][0];
        if request["body"]["omitted"] == true {
            Ok(now.clone())
        } else {
            Err(request["body"].to_string())
        }
    })
    .await;
    let request = &aged["attempt_log"][0]["requests"][0];
    assert_eq!(request["body"]["length"], sent.as_str().unwrap().len());
    assert_eq!(request["response"]["status"], 200);
    assert_eq!(
        request["response"]["body"],
        json!({"omitted": true, "length": 2}),
        "{aged}"
    );
    assert_eq!(
        request["headers"], fresh["attempt_log"][0]["requests"][0]["headers"],
        "headers stay"
    );
    assert!(
        request["headers"].to_string().contains("webhook-id"),
        "{aged}"
    );
    assert_eq!(aged["status"], "succeeded");
}
