//! Background tasks through the real binary: a recover queues again exactly the executions
//! through one integration that failed in its window, once, whatever is sent again; a bulk retry
//! chooses by automation, status and the class of the last answer; both from the API and the
//! command line, with their progress at `GET /v1/tasks/{id}`. And the command line's own repeat of
//! a request whose outcome a 503 left unknown, under the same idempotency key.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, Receiver, Server, create_automation, create_integration, eventually,
    expect_status, herald, member, post_event,
};

const CONFIG: &str = r#"
[egress]
allow_cidrs = ["127.0.0.0/8"]
[delivery]
retry_schedule = ["50ms"]
jitter = 0.0
request_timeout = "2s"
connect_timeout = "1s"
poll_interval = "50ms"
shutdown_grace = "2s"
disable_after = "0s"
"#;

/// Executions of `automation` (by id), keyed by id, with their status.
async fn statuses(api: &Api, automation: &str) -> HashMap<String, String> {
    let (_, listed) = api
        .get(&format!(
            "/v1/automations/{automation}/executions?limit=1000"
        ))
        .await;
    listed["executions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let id = e["id"].as_str().unwrap().to_string();
            (id, e["status"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Waits until `automation` has `count` executions, all in `status`.
async fn all_are(api: &Api, automation: &str, count: usize, status: &str) -> Vec<String> {
    let what = format!("{count} executions of {automation} {status}");
    eventually(Duration::from_secs(20), &what, async || {
        let seen = statuses(api, automation).await;
        if seen.len() == count && seen.values().all(|s| s == status) {
            Ok(seen.into_keys().collect())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await
}

/// Follows a task to its end; returns it.
async fn finished(api: &Api, task: &Value) -> Value {
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    eventually(Duration::from_secs(20), "the task to finish", async || {
        let (_, task) = api.get(&path).await;
        if task["status"] == "succeeded" {
            Ok(task)
        } else {
            Err(task.to_string())
        }
    })
    .await
}

fn link(version: &str) -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
           "collection": "churn", "version": version})
}

async fn webhook(admin: &Api, name: &str, integration: &str, url: String) -> String {
    create_integration(
        admin,
        json!({"name": integration, "kind": "webhook", "url": url}),
    )
    .await;
    create_automation(
        admin,
        json!({"name": name, "scope": {"type": "registry", "registry": "models"},
               "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "webhook", "integration": integration}}),
    )
    .await
}

#[tokio::test]
async fn recover_requeues_what_failed_in_its_window_once_and_a_bulk_retry_chooses_by_filter() {
    let up = Arc::new(AtomicBool::new(true));
    let receiver = {
        let up = up.clone();
        Receiver::start(
            move |_, request| match (request.uri.path(), up.load(Ordering::SeqCst)) {
                (_, true) => (200, vec![], "ok".into()),
                ("/ci", false) => (503, vec![], "down".into()),
                (_, false) => (404, vec![], "gone".into()),
            },
        )
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        CONFIG,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let deploy = webhook(&admin, "deploy", "ci", receiver.url("/ci")).await;
    let audit = webhook(&admin, "audit", "other", receiver.url("/other")).await;

    // One delivered before the outage, then five that fail for good on both integrations.
    let since = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    post_event(&admin, &link("v0")).await;
    all_are(&admin, &deploy, 1, "succeeded").await;
    up.store(false, Ordering::SeqCst);
    for i in 1..=5 {
        post_event(&admin, &link(&format!("v{i}"))).await;
    }
    let mut failed = {
        let what = "five deploys failed";
        eventually(Duration::from_secs(20), what, async || {
            let seen = statuses(&admin, &deploy).await;
            let failed: Vec<String> = seen
                .iter()
                .filter(|(_, s)| *s == "failed")
                .map(|(id, _)| id.clone())
                .collect();
            let audits = statuses(&admin, &audit).await;
            let audits_failed = audits.values().filter(|s| *s == "failed").count();
            if failed.len() == 5 && audits_failed == 5 {
                Ok(failed)
            } else {
                Err(format!("{seen:?} {audits:?}"))
            }
        })
        .await
    };
    failed.sort();

    // Checked before anything starts.
    let recover = "/v1/entities/default/integrations/ci/recover";
    let member = member(&admin, &server).await;
    expect_status(&member.post(recover, &json!({"since": since})).await, 403);
    let nope = "/v1/entities/default/integrations/nope/recover";
    expect_status(&admin.post(nope, &json!({"since": since})).await, 404);
    let wide = json!({"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"});
    expect_status(&admin.post(recover, &wide).await, 422);
    let backwards = json!({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"});
    expect_status(&admin.post(recover, &backwards).await, 422);
    expect_status(
        &admin.post(recover, &json!({"since": "yesterday"})).await,
        400,
    );

    // The receiver is back: recover resends exactly the five, once each.
    up.store(true, Ordering::SeqCst);
    let before = receiver.requests().len();
    let key = [("idempotency-key", "recover-1")];
    let started = admin
        .send("POST", recover, Some(&json!({"since": since})), &key)
        .await;
    let task = expect_status(&started, 202).clone();
    assert_eq!(
        (
            task["kind"].as_str(),
            task["request"]["integration"].as_str()
        ),
        (Some("recover"), Some("ci"))
    );
    let task = finished(&admin, &task).await;
    assert_eq!(task["requeued"], 5, "{task}");
    all_are(&admin, &deploy, 6, "succeeded").await;
    let mut resent: Vec<String> = receiver.requests()[before..]
        .iter()
        .filter(|r| r.uri.path() == "/ci")
        .map(|r| r.header("webhook-id"))
        .collect();
    resent.sort();
    assert_eq!(resent, failed, "exactly the failed ones, once each");
    // The other integration's failures were left alone.
    assert_eq!(
        statuses(&admin, &audit)
            .await
            .values()
            .filter(|s| *s == "failed")
            .count(),
        5
    );

    // Sent again with its key: the same task, nothing queued again.
    let again = admin
        .send("POST", recover, Some(&json!({"since": since})), &key)
        .await;
    let again = expect_status(&again, 202).clone();
    assert_eq!(
        (again["id"].clone(), again["requeued"].clone()),
        (task["id"].clone(), json!(5))
    );
    // A new recover finds nothing failed any more.
    let fresh = admin.post(recover, &json!({"since": since})).await;
    let fresh = finished(&admin, expect_status(&fresh, 202)).await;
    assert_ne!(fresh["id"], task["id"]);
    assert_eq!(fresh["requeued"], 0);

    // Bulk retry: nothing of the audit answered 5xx; its 404s come back by automation.
    let retry = |filter: Value| {
        let mut body = json!({"since": since});
        body.as_object_mut()
            .unwrap()
            .extend(filter.as_object().unwrap().clone());
        body
    };
    let none = admin
        .post(
            "/v1/executions/retry",
            &retry(json!({"code_class": "5xx", "automation": audit})),
        )
        .await;
    assert_eq!(
        finished(&admin, expect_status(&none, 202)).await["requeued"],
        0
    );
    expect_status(
        &admin
            .post(
                "/v1/executions/retry",
                &retry(json!({"statuses": ["pending"]})),
            )
            .await,
        400,
    );
    // From the command line, followed to its end.
    let url = server.url.clone();
    let output = herald(&[
        "--url",
        &url,
        "--key",
        ADMIN_KEY,
        "executions",
        "retry-many",
        "--since",
        &since,
        "--automation",
        &audit,
        "--code-class",
        "4xx",
        "--wait",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("succeeded: 5 executions queued again"),
        "{stdout}"
    );
    all_are(&admin, &audit, 6, "succeeded").await;
    let output = herald(&["--url", &url, "--key", ADMIN_KEY, "tasks", "list"]).await;
    let listed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        listed.lines().count(),
        5,
        "a header and four tasks: {listed}"
    );
    let output = herald(&[
        "--url",
        &url,
        "--key",
        ADMIN_KEY,
        "integrations",
        "recover",
        "ci",
        "--since",
        &since,
        "--wait",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("succeeded: 0 executions queued again"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_send_answered_503_is_sent_again_with_the_same_idempotency_key() {
    // A host whose database connection was lost answers 503, the outcome unknown: the command
    // sends the event again, under the key it sent first, until an answer comes.
    let receiver = Receiver::start(|n, _| match n {
        0 | 1 => (
            503,
            vec![("retry-after", "0".into())],
            r#"{"error":{"code":"unavailable","message":"outcome unknown"}}"#.into(),
        ),
        _ => (
            202,
            vec![("content-type", "application/json".into())],
            r#"{"event_id":"e1","matched":0,"duplicate":true}"#.into(),
        ),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let event = json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r",
                       "state": "FAILED"});
    let file = crate::common::write_json(dir.path(), "event.json", &event);
    let url = receiver.url("");
    let args = [
        "--url", &url, "--key", ADMIN_KEY, "--json", "events", "send", "-f", &file,
    ];
    let output = herald(&args).await;
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["event_id"], "e1");
    let keys: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys[0].starts_with("cli-") && keys.iter().all(|k| *k == keys[0]),
        "{keys:?}"
    );
}
