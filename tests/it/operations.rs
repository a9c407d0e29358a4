//! Day-2 operations through the real binary, with time compressed: an integration whose
//! deliveries keep failing is disabled, what comes for it meanwhile is held, and enabling it
//! delivers what it held in order (or discards it); operational events, and none raised by their
//! own executions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, Receiver, Server, create_automation, create_integration, eventually,
    expect_status, member, post_event, settled,
};

/// Delivery settings for these tests: one worker (so that order is the order of claims), one
/// quick retry, and integrations disabled after one second of failing executions.
pub(crate) const HEALTH_CONFIG: &str = r#"
[egress]
allow_cidrs = ["127.0.0.0/8"]
[delivery]
workers = 1
retry_schedule = ["50ms"]
jitter = 0.0
request_timeout = "2s"
connect_timeout = "1s"
poll_interval = "50ms"
shutdown_grace = "2s"
disable_after = "1s"
"#;

fn start(dir: &std::path::Path) -> Server {
    Server::start_with(
        dir,
        HEALTH_CONFIG,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    )
}

/// A receiver that answers 503 until `up` is set, then 200.
async fn flaky(up: Arc<AtomicBool>) -> Receiver {
    Receiver::start(move |_, _| {
        if up.load(Ordering::SeqCst) {
            (200, vec![], "ok".into())
        } else {
            (503, vec![], "down".into())
        }
    })
    .await
}

/// An automation sending LINK_ARTIFACT events of registry `models` through `integration`, with
/// the version in the body.
pub(crate) async fn automation(admin: &Api, name: &str, integration: &str) {
    create_automation(
        admin,
        json!({
            "name": name,
            "scope": {"type": "registry", "registry": "models"},
            "event": {"type": "LINK_ARTIFACT"},
            "action": {"type": "webhook", "integration": integration,
                       "payload": {"version": "${artifact_version}", "by": name}}
        }),
    )
    .await;
}

pub(crate) fn link(version: &str) -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
           "collection": "churn", "version": version})
}

async fn health(admin: &Api, integration: &str) -> Value {
    let path = format!("/v1/entities/default/integrations/{integration}");
    expect_status(&admin.get(&path).await, 200)["health"].clone()
}

/// The executions of an event, as `GET /v1/events/{id}` lists them.
async fn executions_of(api: &Api, event_id: &str) -> Vec<Value> {
    let (_, event) = api.get(&format!("/v1/events/{event_id}")).await;
    event["executions"].as_array().cloned().unwrap_or_default()
}

/// Waits until every execution of `event_id` is in `status`; returns them.
pub(crate) async fn all_in(api: &Api, event_id: &str, status: &str) -> Vec<Value> {
    let what = format!("event {event_id}'s executions to be {status}");
    eventually(Duration::from_secs(15), &what, async || {
        let executions = executions_of(api, event_id).await;
        if !executions.is_empty() && executions.iter().all(|e| e["status"] == status) {
            Ok(executions)
        } else {
            Err(json!(executions).to_string())
        }
    })
    .await
}

#[tokio::test]
async fn an_integration_failing_for_disable_after_is_disabled_holds_then_delivers_in_order() {
    let up = Arc::new(AtomicBool::new(false));
    let receiver = flaky(up.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/ci")}),
    )
    .await;
    // Same receiver, failing the same way, but it never disables (its own setting wins).
    create_integration(
        &admin,
        json!({"name": "patient", "kind": "webhook", "url": receiver.url("/patient"),
               "disable_after_seconds": 0}),
    )
    .await;
    automation(&admin, "deploy", "ci").await;
    automation(&admin, "audit", "patient").await;
    // The admins hear of `ci` going down and coming back, through an integration of their own.
    let admins = Receiver::ok().await;
    create_integration(
        &admin,
        json!({"name": "admins", "kind": "webhook", "url": admins.url("/admins")}),
    )
    .await;
    for kind in ["INTEGRATION_DISABLED", "INTEGRATION_ENABLED"] {
        create_automation(
            &admin,
            json!({
                "name": format!("tell-{kind}"),
                "scope": {"type": "entity"},
                "event": {"type": kind, "filter": {"integration": "ci"}},
                "action": {"type": "webhook", "integration": "admins",
                           "payload": {"what": "${event_type}", "integration": "${integration_name}",
                                       "why": "${reason}"}}
            }),
        )
        .await;
    }
    assert_eq!(health(&admin, "ci").await["state"], "enabled");

    // Failures until `ci` has failed for good for a second with no success in between.
    let first = post_event(&admin, &link("v0")).await;
    all_in(&admin, &first, "failed").await;
    let state = health(&admin, "ci").await;
    assert_eq!(state["state"], "failing", "{state}");
    assert!(
        state["consecutive_failures"].as_i64().unwrap() >= 2,
        "{state}"
    );
    let mut n = 1;
    let disabled = eventually(Duration::from_secs(20), "ci to be disabled", async || {
        let state = health(&admin, "ci").await;
        if state["state"] == "disabled" {
            return Ok(state);
        }
        let event = post_event(&admin, &link(&format!("v{n}"))).await;
        n += 1;
        settled(&admin, &event, Duration::from_secs(10)).await;
        Err(state.to_string())
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed for good for 1s"),
        "{disabled}"
    );
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    let patient = health(&admin, "patient").await;
    assert_eq!(patient["state"], "failing", "{patient}");
    let told = admins.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        told[0].json(),
        json!({"what": "INTEGRATION_DISABLED", "integration": "ci",
               "why": disabled["disabled_reason"]}),
    );
    // The audit log says Herald did it, and why.
    let (_, log) = admin
        .get("/v1/entities/default/audit?action=integration.disabled")
        .await;
    let entry = &log["entries"][0];
    assert_eq!(
        entry["actor"],
        json!({"key_id": "herald", "role": "system"}),
        "{log}"
    );
    assert_eq!(entry["target"], "ci");
    assert_eq!(
        entry["after"]["reason"], disabled["disabled_reason"],
        "{log}"
    );

    // Events while it is disabled: `ci`'s executions are held, never attempted; `patient`'s
    // still run.
    let mut held = Vec::new();
    for version in ["h1", "h2", "h3"] {
        let event = post_event(&admin, &link(version)).await;
        let what = format!("{version}: ci's execution held and patient's failed");
        eventually(Duration::from_secs(15), &what, async || {
            let executions = executions_of(&admin, &event).await;
            let status = |automation: &str| {
                executions
                    .iter()
                    .find(|e| e["automation"]["name"] == automation)
                    .map(|e| e["status"].as_str().unwrap_or_default().to_string())
            };
            match (status("deploy").as_deref(), status("audit").as_deref()) {
                (Some("held"), Some("failed")) => Ok(()),
                other => Err(format!("{other:?} in {executions:?}")),
            }
        })
        .await;
        held.push(event);
    }
    let state = health(&admin, "ci").await;
    assert_eq!(
        (state["state"].as_str(), state["held"].as_i64()),
        (Some("disabled"), Some(3)),
        "{state}"
    );
    let sent_to_ci = |receiver: &Receiver| {
        receiver
            .requests()
            .iter()
            .filter(|r| r.uri.path() == "/ci")
            // `herald-artifact://default/models/churn:h1` → `h1`
            .map(|r| {
                let version = r.json()["version"].as_str().unwrap().to_string();
                version.rsplit(':').next().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    let before = sent_to_ci(&receiver);
    assert!(!before.iter().any(|v| v.starts_with('h')), "{before:?}");
    for event in &held {
        let deploy = executions_of(&admin, event).await;
        let deploy = deploy
            .iter()
            .find(|e| e["automation"]["name"] == "deploy")
            .unwrap();
        let (_, execution) = admin
            .get(&format!(
                "/v1/executions/{}",
                deploy["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(execution["attempts"], 0, "{execution}");
    }

    // Enabled once the receiver is back: what it held goes out, oldest first, once each.
    up.store(true, Ordering::SeqCst);
    let enabled = expect_status(
        &admin
            .post("/v1/entities/default/integrations/ci/enable", &json!({}))
            .await,
        200,
    )
    .clone();
    assert_eq!(
        (enabled["changed"].as_bool(), enabled["released"].as_i64()),
        (Some(true), Some(3)),
        "{enabled}"
    );
    assert_eq!(
        enabled["integration"]["health"]["state"], "enabled",
        "{enabled}"
    );
    assert_eq!(
        enabled["integration"]["health"]["consecutive_failures"], 0,
        "{enabled}"
    );
    for event in &held {
        let what = format!("event {event}'s deploy execution to succeed");
        eventually(Duration::from_secs(15), &what, async || {
            let executions = executions_of(&admin, event).await;
            let deploy = executions
                .iter()
                .find(|e| e["automation"]["name"] == "deploy");
            match deploy.map(|e| (e["status"].as_str(), e["attempts"].as_i64())) {
                Some((Some("succeeded"), Some(1))) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let after = sent_to_ci(&receiver);
    assert_eq!(after[before.len()..], ["h1", "h2", "h3"], "{after:?}");
    let told = admins.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        told[1].json(),
        json!({"what": "INTEGRATION_ENABLED", "integration": "ci", "why": ""})
    );
    // Enabling again changes nothing (and tells nobody).
    let again = expect_status(
        &admin
            .post("/v1/entities/default/integrations/ci/enable", &json!({}))
            .await,
        200,
    )
    .clone();
    assert_eq!(
        (again["changed"].as_bool(), again["released"].as_i64()),
        (Some(false), Some(0))
    );
    // A success restores `patient` too.
    let next = post_event(&admin, &link("n1")).await;
    all_in(&admin, &next, "succeeded").await;
    assert_eq!(admins.requests().len(), 2, "once each");
    let patient = health(&admin, "patient").await;
    assert_eq!(
        (
            patient["state"].as_str(),
            patient["consecutive_failures"].as_i64()
        ),
        (Some("enabled"), Some(0))
    );
}

#[tokio::test]
async fn an_admin_disables_by_hand_and_may_discard_what_was_held() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/ci")}),
    )
    .await;
    automation(&admin, "deploy", "ci").await;
    let path = "/v1/entities/default/integrations/ci";

    // Members read the state; only admins change it.
    let member = member(&admin, &server).await;
    expect_status(
        &member.post(&format!("{path}/disable"), &json!({})).await,
        403,
    );
    expect_status(
        &member.post(&format!("{path}/enable"), &json!({})).await,
        403,
    );
    expect_status(
        &admin
            .post("/v1/entities/default/integrations/nope/disable", &json!({}))
            .await,
        404,
    );
    expect_status(
        &admin
            .post(
                &format!("{path}/disable"),
                &json!({"reason": "x".repeat(256)}),
            )
            .await,
        400,
    );
    expect_status(
        &admin
            .post(&format!("{path}/enable"), &json!({"held": "later"}))
            .await,
        400,
    );

    let disabled = expect_status(
        &admin
            .post(
                &format!("{path}/disable"),
                &json!({"reason": "receiver migrating"}),
            )
            .await,
        200,
    )
    .clone();
    assert_eq!(disabled["health"]["state"], "disabled");
    assert_eq!(disabled["health"]["disabled_reason"], "receiver migrating");
    assert_eq!(member.get(path).await.1["health"]["state"], "disabled");

    let event = post_event(&admin, &link("v1")).await;
    all_in(&admin, &event, "held").await;
    let enabled = expect_status(
        &admin
            .post(&format!("{path}/enable"), &json!({"held": "discard"}))
            .await,
        200,
    )
    .clone();
    assert_eq!(enabled["released"], 1, "{enabled}");
    let failed = all_in(&admin, &event, "failed").await;
    let (_, execution) = admin
        .get(&format!(
            "/v1/executions/{}",
            failed[0]["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        execution["status_reason"]
            .as_str()
            .unwrap()
            .contains("discarded"),
        "{execution}"
    );
    // Nothing was sent for it; what comes next is delivered as usual.
    assert!(receiver.requests().is_empty());
    let next = post_event(&admin, &link("v2")).await;
    all_in(&admin, &next, "succeeded").await;
    assert_eq!(receiver.requests().len(), 1);

    // Both hands on the integration are in the audit log, with its state before and after.
    let (_, log) = admin
        .get("/v1/entities/default/audit?target_kind=integration&target=ci")
        .await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "integration.enabled",
            "integration.disabled",
            "integration.created"
        ]
    );
    assert_eq!(entries[0]["before"]["health"]["state"], "disabled", "{log}");
    assert_eq!(
        entries[0]["after"]["held"],
        json!({"choice": "discard", "released": 1})
    );
    assert_eq!(
        entries[1]["after"]["health"]["disabled_reason"],
        "receiver migrating"
    );
}

#[tokio::test]
async fn executions_on_operational_events_raise_none_themselves() {
    let down = Arc::new(AtomicBool::new(false));
    let receiver = flaky(down).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/ci"),
               "disable_after_seconds": 0}),
    )
    .await;
    automation(&admin, "deploy", "ci").await;
    // Tells of every execution that fails for good, through the same failing receiver: were
    // its own failures raised, it would fire on them, forever.
    let watcher = create_automation(
        &admin,
        json!({
            "name": "watcher",
            "scope": {"type": "entity"},
            "event": {"type": "EXECUTION_EXHAUSTED"},
            "action": {"type": "webhook", "integration": "ci",
                       "payload": {"failed": "${source_automation_name}",
                                   "execution": "${source_execution_id}",
                                   "attempt": "${attempt}", "why": "${reason}"}}
        }),
    )
    .await;
    let event = post_event(&admin, &link("v1")).await;
    let failed = all_in(&admin, &event, "failed").await;
    let path = format!("/v1/automations/{watcher}/executions");
    let fired = eventually(
        Duration::from_secs(15),
        "the watcher to fail for good",
        async || {
            let (_, list) = admin.get(&path).await;
            match list["executions"].as_array() {
                Some(all) if all.len() == 1 && all[0]["status"] == "failed" => Ok(all[0].clone()),
                _ => Err(list.to_string()),
            }
        },
    )
    .await;
    let (_, execution) = admin
        .get(&format!("/v1/executions/{}", fired["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        execution["payload"],
        json!({"failed": "deploy", "execution": failed[0]["id"], "attempt": "2",
               "why": "gave up after 2 attempts: HTTP 503: down"}),
    );
    // Clients cannot post one.
    let forged = json!({"type": "EXECUTION_EXHAUSTED", "entity": "default",
                        "automation": "deploy", "execution_id": "x", "attempt": 1});
    expect_status(&admin.post("/v1/events", &forged).await, 400);
    // Whatever the watcher's own failure raised would be matched before a later event is
    // settled: one more delivery through, and still only the one execution.
    let later = post_event(&admin, &link("v2")).await;
    all_in(&admin, &later, "failed").await;
    let fired = eventually(
        Duration::from_secs(15),
        "the second watcher execution",
        async || {
            let (_, list) = admin.get(&path).await;
            let all = list["executions"].as_array().cloned().unwrap_or_default();
            if all.len() == 2 && all.iter().all(|e| e["status"] == "failed") {
                Ok(all)
            } else {
                Err(list.to_string())
            }
        },
    )
    .await;
    assert_eq!(
        fired.len(),
        2,
        "one per failed deploy, none for the watcher's own failures"
    );
}

#[tokio::test]
async fn an_execution_failing_then_succeeding_raises_failing_then_recovered() {
    // Fails the first request only.
    let receiver = Receiver::start(|n, _| match n {
        0 => (500, vec![], "oops".into()),
        _ => (200, vec![], "ok".into()),
    })
    .await;
    let admins = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{HEALTH_CONFIG}failing_after_attempts = 1\n");
    let server = Server::start_with(
        dir.path(),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    for (name, url) in [("ci", receiver.url("/ci")), ("admins", admins.url("/a"))] {
        create_integration(&admin, json!({"name": name, "kind": "webhook", "url": url})).await;
    }
    automation(&admin, "deploy", "ci").await;
    for kind in ["EXECUTION_FAILING", "EXECUTION_RECOVERED"] {
        create_automation(
            &admin,
            json!({
                "name": format!("tell-{kind}"),
                "scope": {"type": "entity"},
                "event": {"type": kind, "filter": {"automation": "deploy"}},
                "action": {"type": "webhook", "integration": "admins",
                           "payload": {"what": "${event_type}", "attempt": "${attempt}",
                                       "why": "${reason}", "via": "${integration_name}"}}
            }),
        )
        .await;
    }
    let event = post_event(&admin, &link("v1")).await;
    all_in(&admin, &event, "succeeded").await;
    let told: Vec<Value> = admins
        .wait_for(2, Duration::from_secs(10))
        .await
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(
        told,
        [
            json!({"what": "EXECUTION_FAILING", "attempt": "1", "why": "HTTP 500: oops", "via": "ci"}),
            json!({"what": "EXECUTION_RECOVERED", "attempt": "2", "why": "", "via": "ci"}),
        ]
    );
}
