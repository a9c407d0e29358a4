//! Durable delivery through the real binary to real receivers on 127.0.0.1: signatures checked by
//! the test's own code, retries and their classes, Retry-After, redirects, timeouts, a kill -9 in
//! the middle of hundreds of deliveries, rate limits, the integration test endpoint, metrics.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    ADMIN_KEY, Api, ConnectionProbe, FAST_DELIVERY_CONFIG, Receiver, Server, eventually,
    expect_status, post_event, put_secret, settled, status_and_attempts,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const TOKEN: &str = "tok-delivery-7c1d2e3f";
const SIGNING: &str = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Secrets, and an integration called `name` pointing at `url`.
async fn integration(admin: &Api, name: &str, url: &str) {
    for (secret, value) in [("TOKEN", TOKEN), ("SIGNING", SIGNING)] {
        put_secret(admin, secret, value).await;
    }
    crate::common::create_integration(admin, json!({"name": name, "kind": "webhook", "url": url, "access_token": "TOKEN", "signing_secret": "SIGNING"})).await;
}

/// An automation on LINK_ARTIFACT events of collection `collection` in registry `models`.
async fn automation(
    admin: &Api,
    name: &str,
    collection: &str,
    integration: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "name": name,
        "scope": {"type": "collection", "registry": "models", "collection": collection},
        "event": {"type": "LINK_ARTIFACT"},
        "action": {"type": "webhook", "integration": integration,
                   "payload": {"model": "${artifact_version_string}", "auth": "token ${TOKEN}"}}
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    crate::common::create_automation(admin, body).await
}

fn link(collection: &str, version: &str) -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models", "collection": collection,
           "version": version, "author": "ana"})
}

#[tokio::test]
async fn an_event_arrives_signed_and_receivers_can_deduplicate_on_the_execution_id() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    integration(&admin, "ci", &receiver.url("/hook")).await;
    automation(&admin, "deploy", "churn", "ci", json!({})).await;
    let event_id = post_event(&admin, &link("churn", "v3")).await;
    let execution = settled(&admin, &event_id, Duration::from_secs(10)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");

    let request = receiver.requests()[0].clone();
    assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.json(),
        json!({"model": "default/models/churn:v3", "auth": format!("token {TOKEN}")})
    );
    assert_eq!(
        request.header("x-wandb-signature"),
        hmac_b64(SIGNING.as_bytes(), &request.body)
    );
    let id = request.header("webhook-id");
    assert_eq!(
        id,
        execution["id"].as_str().unwrap(),
        "webhook-id is the execution id"
    );
    let key = BASE64.decode(SIGNING.trim_start_matches("whsec_")).unwrap();
    let signed = [
        id.as_bytes(),
        b".",
        request.header("webhook-timestamp").as_bytes(),
        b".",
        &request.body,
    ]
    .concat();
    assert_eq!(
        request.header("webhook-signature"),
        format!("v1,{}", hmac_b64(&key, &signed))
    );

    // The stored attempt shows the request with every secret redacted.
    let attempt = &execution["attempt_log"][0];
    assert_eq!(attempt["outcome"], "succeeded");
    let stored = attempt["requests"][0].to_string();
    assert!(
        !stored.contains(TOKEN) && !stored.contains(SIGNING),
        "{stored}"
    );
    assert!(
        stored.contains("Bearer [REDACTED]") && stored.contains("token [REDACTED]"),
        "{stored}"
    );
    assert_eq!(attempt["requests"][0]["response"]["status"], 200);

    // A manual retry delivers again with the same webhook-id: the receiver deduplicates on it.
    let retried = admin
        .post(&format!("/v1/executions/{id}/retry"), &json!({}))
        .await;
    expect_status(&retried, 202);
    let seen = receiver.wait_for(2, Duration::from_secs(10)).await;
    let ids: HashSet<String> = seen.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "both deliveries carry the same id");
    assert_eq!(
        settled(&admin, &event_id, Duration::from_secs(10)).await["attempts"],
        2
    );

    // A rotated secret signs the very next delivery: what the host caches never outlives a write.
    const ROTATED: &str = "rotated-token-value";
    expect_status(
        &admin
            .put(
                "/v1/entities/default/secrets/TOKEN",
                &json!({"value": ROTATED}),
            )
            .await,
        200,
    );
    let next = post_event(&admin, &link("churn", "v4")).await;
    let execution = settled(&admin, &next, Duration::from_secs(10)).await;
    assert_eq!(execution["status"], "succeeded", "{execution}");
    let seen = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(seen[2].header("authorization"), format!("Bearer {ROTATED}"));
    assert_eq!(
        seen[2].json()["auth"],
        format!("token {ROTATED}"),
        "payload placeholders too"
    );
    assert!(!execution["attempt_log"].to_string().contains(ROTATED));
    let server_log = server.log();
    assert!(
        !server_log.contains(TOKEN) && !server_log.contains("c2lnbmluZy1zZWNyZXQ"),
        "a secret reached the log"
    );
}

#[tokio::test]
async fn receiver_answers_decide_retries() {
    let probe = ConnectionProbe::start().await;
    let redirect = format!("http://{}/elsewhere", probe.addr);
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let seen_at: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let receiver = {
        let (counts, seen_at) = (counts.clone(), seen_at.clone());
        Receiver::start(move |_, request| {
            let path = request.uri.path().to_string();
            seen_at.lock().unwrap().push((path.clone(), Instant::now()));
            let n = {
                let mut counts = counts.lock().unwrap();
                let n = counts.entry(path.clone()).or_default();
                *n += 1;
                *n
            };
            match (path.as_str(), n) {
                ("/flaky", 1) => (500, vec![], "boom".into()),
                ("/slow-down", 1) => (429, vec![("retry-after", "2".into())], "slow down".into()),
                ("/gone", _) => (404, vec![], "no such hook".into()),
                ("/moved", _) => (302, vec![("location", redirect.clone())], String::new()),
                ("/hang", _) => {
                    std::thread::sleep(Duration::from_millis(1500));
                    (200, vec![], "too late".into())
                }
                _ => (200, vec![], "ok".into()),
            }
        })
        .await
    };
    let server = Server::fast();
    let admin = server.admin();
    let mut events = BTreeMap::new();
    for case in ["flaky", "slow-down", "gone", "moved", "hang"] {
        integration(&admin, case, &receiver.url(&format!("/{case}"))).await;
        automation(&admin, case, case, case, json!({})).await;
        events.insert(case, post_event(&admin, &link(case, "v1")).await);
    }
    let mut results = BTreeMap::new();
    for (case, event_id) in &events {
        results.insert(
            *case,
            settled(&admin, event_id, Duration::from_secs(20)).await,
        );
    }
    let class = |execution: &Value, n: usize| execution["attempt_log"][n]["error_class"].clone();

    let flaky = &results["flaky"];
    assert_eq!(
        status_and_attempts(flaky),
        (Some("succeeded"), Some(2)),
        "{flaky}"
    );
    assert_eq!(class(flaky, 0), "http");

    let slow = &results["slow-down"];
    assert_eq!(slow["status"], "succeeded");
    let times: Vec<Instant> = seen_at
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/slow-down")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_secs(2),
        "Retry-After: 2 was not honoured: {:?}",
        times[1] - times[0]
    );

    let gone = &results["gone"];
    assert_eq!(
        status_and_attempts(gone),
        (Some("failed"), Some(1)),
        "{gone}"
    );
    assert!(
        gone["status_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 404: no such hook"),
        "{gone}"
    );

    let moved = &results["moved"];
    assert_eq!(
        status_and_attempts(moved),
        (Some("failed"), Some(1)),
        "{moved}"
    );
    assert_eq!(probe.connections().await, 0, "the redirect was followed");

    let hang = &results["hang"];
    assert_eq!(
        status_and_attempts(hang),
        (Some("failed"), Some(3)),
        "{hang}"
    );
    assert_eq!(class(hang, 0), "timeout");
    assert!(
        hang["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 3 attempts"),
        "{hang}"
    );
}

#[tokio::test]
async fn a_killed_host_loses_no_execution() {
    let receiver = Receiver::start(|_, _| {
        std::thread::sleep(Duration::from_millis(10));
        (200, vec![], "ok".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_fast(&data);
    let admin = server.admin();
    integration(&admin, "ci", &receiver.url("/hook")).await;
    let automation_id = automation(&admin, "many", "churn", "ci", json!({})).await;
    let events: Vec<Value> = (0..300).map(|i| link("churn", &format!("v{i}"))).collect();
    for chunk in events.chunks(100) {
        expect_status(
            &admin
                .post("/v1/events/batch", &json!({"events": chunk}))
                .await,
            202,
        );
    }
    receiver.wait_for(20, Duration::from_secs(20)).await;
    server.kill();
    let delivered_before_kill = receiver.requests().len();
    assert!(
        delivered_before_kill < 300,
        "the kill came too late to test anything"
    );

    let server = Server::start_fast(&data);
    let admin = server.admin();
    let what = "every execution to succeed after the restart";
    let executions = eventually(Duration::from_secs(60), what, async || {
        let (_, listed) = admin
            .get(&format!(
                "/v1/automations/{automation_id}/executions?limit=1000"
            ))
            .await;
        let executions = listed["executions"].as_array().unwrap().clone();
        assert_eq!(executions.len(), 300, "every execution exists");
        let done = executions.iter().filter(|e| e["status"] == "succeeded");
        match done.count() {
            300 => Ok(executions),
            done => Err(format!("{done} of 300 succeeded")),
        }
    })
    .await;
    let seen: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    for execution in &executions {
        assert!(
            seen.contains(execution["id"].as_str().unwrap()),
            "execution {} never arrived",
            execution["id"]
        );
    }
}

#[tokio::test]
async fn rate_limits_skip_the_excess_and_the_test_endpoint_shows_the_real_answer() {
    let receiver = Receiver::start(|_, request| match request.uri.path() {
        "/missing" => (404, vec![("x-receiver", "yes".into())], "not here".into()),
        _ => (
            200,
            vec![("x-receiver", "yes".into())],
            "{\"accepted\":true}".into(),
        ),
    })
    .await;
    let server = Server::fast();
    let admin = server.admin();
    integration(&admin, "ci", &receiver.url("/hook")).await;
    let limited = automation(
        &admin,
        "limited",
        "churn",
        "ci",
        json!({"rate_limit": {"max": 2, "per_seconds": 3600}}),
    )
    .await;
    for i in 0..5 {
        post_event(&admin, &link("churn", &format!("v{i}"))).await;
    }
    let (_, listed) = admin
        .get(&format!("/v1/automations/{limited}/executions"))
        .await;
    let statuses: Vec<&str> = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "skipped").count(),
        3,
        "{statuses:?}"
    );
    let skipped = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "skipped")
        .unwrap();
    assert_eq!(skipped["status_reason"], "rate limit: at most 2 per 3600 s");

    // The test endpoint: resolved, signed, sent; the receiver's real answer comes back. The two
    // admitted deliveries arrive first, so the next request the receiver sees is the test's.
    let before = receiver.wait_for(2, Duration::from_secs(10)).await.len();
    assert_eq!(before, 2, "only the two admitted executions are delivered");
    let payload =
        json!({"payload": {"hello": "world", "token": "${TOKEN}", "variable": "[${event_type}]"}});
    let (status, tested) = admin
        .post("/v1/entities/default/integrations/ci/test", &payload)
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["sent"], true);
    assert_eq!(tested["response"]["status"], 200);
    assert_eq!(tested["response"]["body"], "{\"accepted\":true}");
    assert!(
        tested["response"]["headers"]
            .to_string()
            .contains("x-receiver"),
        "{tested}"
    );
    let arrived = receiver
        .wait_for(before + 1, Duration::from_secs(5))
        .await
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        arrived.json(),
        json!({"hello": "world", "token": TOKEN, "variable": "[]"})
    );
    assert_eq!(
        arrived.header("x-wandb-signature"),
        hmac_b64(SIGNING.as_bytes(), &arrived.body)
    );
    let shown = tested["request"].to_string();
    assert!(
        !shown.contains(TOKEN) && shown.contains("[REDACTED]"),
        "{shown}"
    );

    integration(&admin, "missing", &receiver.url("/missing")).await;
    let (_, tested) = admin
        .post("/v1/entities/default/integrations/missing/test", &json!({}))
        .await;
    assert_eq!(
        (
            tested["response"]["status"].clone(),
            tested["response"]["body"].clone()
        ),
        (json!(404), json!("not here"))
    );
    integration(&admin, "closed", "http://127.0.0.1:9/nothing").await;
    let (_, tested) = admin
        .post("/v1/entities/default/integrations/closed/test", &json!({}))
        .await;
    assert_eq!(tested["sent"], false, "{tested}");
    assert_eq!(tested["error"]["class"], "connect", "{tested}");

    // A post repeated under its idempotency key stores nothing, so the metrics count nothing for
    // it: one more event, one more skipped execution, not two.
    let headers = [("idempotency-key", "churn-again")];
    for _ in 0..2 {
        let event = link("churn", "v5");
        let response = admin
            .send("POST", "/v1/events", Some(&event), &headers)
            .await;
        expect_status(&response, 202);
    }

    // The metrics count what happened.
    let metrics = crate::common::metrics_text(&server).await;
    assert!(
        metrics.contains("herald_events_ingested_total 6"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("herald_executions_created_total{action=\"webhook\",status=\"skipped\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("herald_attempt_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_queue_depth"), "{metrics}");
}

#[tokio::test]
async fn a_destination_refused_at_send_time_is_a_failed_attempt_without_a_connection() {
    let probe = ConnectionProbe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Saved while the operator allowed loopback...
    let server = Server::start_fast(&data);
    let admin = server.admin();
    integration(&admin, "ci", &format!("http://{}/hook", probe.addr)).await;
    automation(&admin, "tightened", "churn", "ci", json!({})).await;
    server.kill();
    // ...then the operator tightened the policy: the same integration is refused when sending.
    let strict = FAST_DELIVERY_CONFIG.replace("allow_cidrs = [\"127.0.0.0/8\"]", "");
    let server = Server::start_with(&data, &strict, &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)], &[]);
    let admin = server.admin();
    let event_id = post_event(&admin, &link("churn", "v1")).await;
    let execution = settled(&admin, &event_id, Duration::from_secs(10)).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["attempt_log"][0]["error_class"], "denied");
    assert!(
        execution["status_reason"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{execution}"
    );
    assert_eq!(probe.connections().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_deliveries_finish() {
    let receiver = Receiver::start(|_, _| {
        std::thread::sleep(Duration::from_millis(800));
        (200, vec![], "ok".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Top-level keys come before the first table.
    let config = format!("log_format = \"json\"\n{FAST_DELIVERY_CONFIG}");
    let server = Server::start_with(&data, &config, &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)], &[]);
    let admin = server.admin();
    integration(&admin, "ci", &receiver.url("/hook")).await;
    automation(&admin, "slow", "churn", "ci", json!({})).await;
    let event_id = post_event(&admin, &link("churn", "v1")).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    // The attempt is in flight (the receiver takes 800 ms): stop the host now.
    let log_path = server.log_path.clone();
    let status = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "herald exited with {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(
            parsed["level"].is_string() && parsed["fields"].is_object(),
            "{line}"
        );
    }
    assert!(log.contains("no new deliveries are claimed"), "{log}");

    let server = Server::start_fast(&data);
    let (_, event) = server.admin().get(&format!("/v1/events/{event_id}")).await;
    let execution = &event["executions"][0];
    assert_eq!(
        execution["status"], "succeeded",
        "the in-flight attempt finished before exit: {execution}"
    );
    assert_eq!(execution["attempts"], 1);
    assert_eq!(receiver.requests().len(), 1, "nothing was sent twice");
}
