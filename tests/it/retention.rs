//! Retention through the real binary: events past `[retention] events` go with their executions
//! and attempts once those have finished, one still to deliver (held) stays, and the SQLite
//! database gives the space back to the filesystem.

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
