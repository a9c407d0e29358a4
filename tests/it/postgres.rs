//! Several hosts on one PostgreSQL database, through real `herald serve` processes: work is shared
//! and delivered once, a killed host's claims are finished by the other after their lease, rate
//! limits, idempotency keys, automations, key deletions and plugin installs hold across hosts, and a database
//! restarted under load costs 503s, never an acknowledged event. (These tests pick their database
//! themselves, so the PostgreSQL pass of `cargo xtask test` skips them rather than run them twice.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, FAST_DELIVERY_CONFIG, INGEST_ONLY_CONFIG, Receiver, Server,
    automation_on_links, create_automation, create_integration, expect_status, fixture, member_key,
    new_database, post_event, settled, settled_all, upload_plugin,
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
    let deadline = Instant::now() + limit;
    let mut posted = Vec::new();
    loop {
        let answer = api.post("/v1/events", event).await;
        let body = expect_status(&answer, 202);
        posted.push(body["event_id"].as_str().unwrap().to_string());
        if body["matched"] == 1 {
            return posted;
        }
        assert!(
            Instant::now() < deadline,
            "the automation created on the other host never matched here"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the automation has `count` executions, all final; returns them.
async fn all_final(api: &Api, automation: &str, count: usize, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
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
            return executions;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} executions, not all final, after {limit:?}: {executions:?}",
            executions.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_hosts_share_the_work_and_deliver_every_execution_once() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, FAST_DELIVERY_CONFIG);
    let b = host(dir.path(), "b", &database, FAST_DELIVERY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "shared", "shared").await;
    // Created through A, matched by B once B's index heard of it.
    let mut posted =
        until_matched(&admin_b, &link("shared", "probe"), Duration::from_secs(10)).await;
    let matched_before = posted.len() - 1;
    for i in 0..120 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        posted.push(crate::common::post_event(api, &link("shared", &format!("v{i}"))).await);
    }
    let expected = posted.len() - matched_before;
    let executions = all_final(&admin_a, &automation, expected, Duration::from_secs(60)).await;

    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for request in receiver.requests() {
        *arrivals.entry(request.header("webhook-id")).or_default() += 1;
    }
    for execution in &executions {
        let id = execution["id"].as_str().unwrap();
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(execution["attempts"], 1, "run once: {execution}");
        assert_eq!(arrivals.get(id), Some(&1), "execution {id} arrived once");
        // Read through the other host: one attempt recorded.
        let (_, record) = admin_b.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(
            record["attempt_log"].as_array().map(Vec::len),
            Some(1),
            "{record}"
        );
    }
    assert_eq!(arrivals.len(), expected, "nothing else arrived");
}

#[tokio::test]
async fn a_killed_hosts_claims_are_finished_by_the_other_after_their_lease() {
    // The first ten requests are held until A is dead: A dies with attempts in flight.
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let held = gate.clone();
    let receiver = Receiver::start(move |index, _| {
        if index < 10 {
            let (open, opened) = &*held;
            let _open = opened
                .wait_while(open.lock().unwrap(), |open| !*open)
                .unwrap();
        }
        (200, vec![], "ok".into())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("{FAST_DELIVERY_CONFIG}lease = \"2s\"\n");
    let a = host(dir.path(), "a", &database, &config);
    let admin_a = a.admin();
    let automation = webhook_on_links(&admin_a, receiver.url("/hook"), "many", "churn").await;
    let events: Vec<Value> = (0..200).map(|i| link("churn", &format!("v{i}"))).collect();
    for chunk in events.chunks(100) {
        expect_status(
            &admin_a
                .post("/v1/events/batch", &json!({"events": chunk}))
                .await,
            202,
        );
    }
    receiver.wait_for(10, Duration::from_secs(20)).await;
    a.kill();
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert!(
        receiver.requests().len() < 200,
        "the kill came too late to test anything"
    );

    // B starts after the kill: what A held comes back to it once A's leases lapse.
    let b = host(dir.path(), "b", &database, &config);
    let executions = all_final(&b.admin(), &automation, 200, Duration::from_secs(60)).await;
    let seen: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    for execution in &executions {
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert!(seen.contains(execution["id"].as_str().unwrap()));
    }
    assert!(
        executions.iter().any(|e| e["attempts"].as_i64() > Some(1)),
        "no execution was taken over from the killed host"
    );
}

#[tokio::test]
async fn rate_limits_idempotency_keys_and_key_deletions_hold_across_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, INGEST_ONLY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    create_integration(
        &admin_a,
        json!({"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let automation = create_automation(
        &admin_a,
        json!({"name": "limited", "scope": {"type": "collection", "registry": "models", "collection": "lim"},
               "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "webhook", "integration": "hook"},
               "rate_limit": {"max": 3, "per_seconds": 3600}}),
    )
    .await;
    until_matched(&admin_b, &link("lim", "probe"), Duration::from_secs(10)).await;
    for i in 0..8 {
        let api = if i % 2 == 0 { &admin_a } else { &admin_b };
        crate::common::post_event(api, &link("lim", &format!("v{i}"))).await;
    }
    let (_, listed) = admin_b
        .get(&format!(
            "/v1/automations/{automation}/executions?limit=100"
        ))
        .await;
    let executions = listed["executions"].as_array().unwrap();
    let admitted = executions
        .iter()
        .filter(|e| e["status"] != "skipped")
        .count();
    // The probe took one place: 3 in all, whichever host took each event.
    assert_eq!(admitted, 3, "{executions:?}");
    assert!(
        executions
            .iter()
            .filter(|e| e["status"] == "skipped")
            .all(|e| e["status_reason"] == "rate limit: at most 3 per 3600 s")
    );

    // An Idempotency-Key repeated on the other host returns the first event.
    let event = link("elsewhere", "once");
    let first = expect_status(
        &admin_a
            .send(
                "POST",
                "/v1/events",
                Some(&event),
                &[("Idempotency-Key", "k-1")],
            )
            .await,
        202,
    )
    .clone();
    let again = expect_status(
        &admin_b
            .send(
                "POST",
                "/v1/events",
                Some(&event),
                &[("Idempotency-Key", "k-1")],
            )
            .await,
        202,
    )
    .clone();
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["duplicate"], true);

    // A key B has verified (and cached) stops working on B once A deleted it.
    let key = member_key(&admin_a, "short-lived").await;
    let member_b = b.client(&key);
    expect_status(&member_b.get("/v1/automations").await, 200);
    let (_, keys) = admin_a.get("/v1/entities/default/keys").await;
    let id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "short-lived")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_status(
        &admin_a
            .delete(&format!("/v1/entities/default/keys/{id}"))
            .await,
        204,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while member_b.get("/v1/automations").await.0 != 401 {
        assert!(
            Instant::now() < deadline,
            "B still accepts a key deleted on A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 30 s) until `done`.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_database_restarted_under_load_costs_503s_and_no_acknowledged_event() {
    // A server of its own: restarting the shared one would fail every other test. Durable
    // settings, so that a commit PostgreSQL acknowledged survives its crash.
    let directory = std::env::temp_dir().join(format!("herald-restart-pg-{}", std::process::id()));
    let postgres = pgtemp::PgServer::start(&directory, pgtemp::Tuning::Durable).unwrap();
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = host(
        dir.path(),
        "a",
        &postgres.url("postgres"),
        FAST_DELIVERY_CONFIG,
    );
    let admin = server.admin();
    webhook_on_links(&admin, receiver.url("/hook"), "load", "load").await;

    // Posts without pause until told to stop, keeping every answer.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(Vec::<(u16, Value)>::new()));
    let poster = {
        let (stop, answers, admin) = (stop.clone(), answers.clone(), admin.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let answer = admin
                    .post("/v1/events", &link("load", &format!("v{i}")))
                    .await;
                answers.lock().unwrap().push(answer);
                i += 1;
            }
        })
    };
    let count = |status: u16| {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == status)
            .count()
    };
    // A key never used yet: the server must look it up in the database.
    let fresh = server.client(&member_key(&admin, "fresh").await);
    wait_until("accepted events", || count(202) >= 50).await;
    postgres.kill().unwrap();
    wait_until("503s while the database is down", || count(503) >= 3).await;
    // Its lookup fails like every other read: 503, not 500.
    let (status, body) = fresh.get("/v1/me").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable")),
        "{body}"
    );
    let accepted_while_down = count(202);
    postgres.restart(pgtemp::Tuning::Durable).unwrap();
    wait_until("accepted events after the restart", || {
        count(202) >= accepted_while_down + 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    poster.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    let refused = answers.iter().find(|(s, _)| *s == 503).unwrap();
    assert_eq!(refused.1["error"]["code"], "unavailable", "{:?}", refused.1);
    assert!(
        answers.iter().all(|(s, _)| matches!(s, 202 | 503)),
        "only 202 and 503: {:?}",
        answers
            .iter()
            .filter(|(s, _)| !matches!(s, 202 | 503))
            .collect::<Vec<_>>()
    );
    // Every acknowledged event is there, and its execution is delivered.
    let mut delivered = 0;
    for (_, body) in answers.iter().filter(|(s, _)| *s == 202) {
        let id = body["event_id"].as_str().unwrap();
        let executions = settled_all(&admin, id, Duration::from_secs(60)).await;
        assert_eq!(executions.len(), 1, "event {id}");
        assert_eq!(executions[0]["status"], "succeeded", "{:?}", executions[0]);
        delivered += 1;
    }
    let seen: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert!(seen.len() >= delivered);
    drop(server);
    drop(postgres);
}

fn sample(step: u64, loss: f64) -> Value {
    json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": "r1",
           "step": step, "metrics": {"loss": loss}})
}

#[tokio::test]
async fn a_runs_windows_and_cooldowns_span_both_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, INGEST_ONLY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let watch = |name: &str, metric: Value| {
        json!({"name": name, "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": metric}, "action": {"type": "no-op"}})
    };
    let average = create_automation(
        &admin_a,
        watch(
            "avg",
            json!({"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5, "cooldown_seconds": 0}),
        ),
    )
    .await;
    let spike = create_automation(
        &admin_a,
        watch(
            "spike",
            json!({"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 3600}),
        ),
    )
    .await;
    // Notices arrive in order: once B matches a later automation, it has the metric ones too.
    create_automation(
        &admin_a,
        json!({"name": "marker", "scope": {"type": "collection", "registry": "models", "collection": "m"},
               "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "no-op"}}),
    )
    .await;
    until_matched(&admin_b, &link("m", "probe"), Duration::from_secs(10)).await;

    // Alternate hosts: A 0.9, B 0.9, A 0.0 fills the window across both: avg 0.6 > 0.5 fires
    // on A only if A took in B's sample. Then B 0.0 (0.3) and A 0.3 (0.1) do not.
    for (step, loss) in [0.9, 0.9, 0.0, 0.0, 0.3].into_iter().enumerate() {
        let api = if step % 2 == 0 { &admin_a } else { &admin_b };
        crate::common::post_event(api, &sample(step as u64 + 1, loss)).await;
    }
    let (_, executions) = admin_b
        .get(&format!("/v1/automations/{average}/executions"))
        .await;
    let executions = executions["executions"].as_array().unwrap().clone();
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0]["metric"]["values"], json!([0.9, 0.9, 0.0]));

    // A spike fires on B; the next, on A, is inside the cooldown B started.
    crate::common::post_event(&admin_b, &sample(6, 2.0)).await;
    crate::common::post_event(&admin_a, &sample(7, 3.0)).await;
    let (_, executions) = admin_a
        .get(&format!("/v1/automations/{spike}/executions"))
        .await;
    let executions = executions["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1, "{executions:?}");
    assert_eq!(executions[0]["metric"]["value"], 2.0);
}

#[tokio::test]
async fn a_silent_run_is_reported_crashed_by_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = crate::run_liveness::config();
    let a = host(dir.path(), "a", &database, &config);
    let b = host(dir.path(), "b", &database, &config);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let failed = crate::run_liveness::on_failures(&admin_a).await;
    // Logged through both hosts, then silent: both look for silent runs every 250 ms.
    let sample = |step: u64| {
        json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": "lost",
               "run_name": "lost-run", "step": step, "metrics": {"loss": 0.5}})
    };
    crate::common::post_event(&admin_a, &sample(1)).await;
    crate::common::post_event(&admin_b, &sample(2)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::run_liveness::failures(&admin_b, &failed)
        .await
        .is_empty()
    {
        assert!(Instant::now() < deadline, "never reported crashed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        crate::run_liveness::failures(&admin_a, &failed).await,
        [(
            "lost".to_string(),
            "crashed".to_string(),
            "lost-run".to_string()
        )]
    );
}

#[tokio::test]
async fn metric_samples_posted_at_once_never_wait_for_a_connection_their_own_locks_hold() {
    // Two connections: were both taken by requests holding run locks, each would wait for a
    // connection to store its sample until the pool's timeout (503).
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    let config = format!("database_pool = 2\n{INGEST_ONLY_CONFIG}");
    let server = host(dir.path(), "a", &database, &config);
    let admin = server.admin();
    create_automation(
        &admin,
        json!({"name": "spike", "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_METRIC_THRESHOLD",
                         "metric": {"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 0}},
               "action": {"type": "no-op"}}),
    )
    .await;
    let posts = (0..24).map(|run| {
        let admin = admin.clone();
        async move {
            let sample = json!({"type": "RUN_METRIC", "entity": "default", "project": "train",
                                "run_id": format!("r{run}"), "step": 1, "metrics": {"loss": 2.0}});
            admin.post("/v1/events", &sample).await
        }
    });
    let answers = futures_util::future::join_all(posts).await;
    for (status, body) in &answers {
        assert_eq!(*status, 202, "{body}");
        assert_eq!(body["matched"], 1, "{body}");
    }
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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = listed_version(api, name).await;
        if listed.as_deref() == version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {listed:?}, never {version:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_plugin_installed_through_one_host_runs_on_every_host_and_its_removal_too() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let database = new_database();
    // A takes API calls and delivers nothing: every execution runs on B.
    let a = host(dir.path(), "a", &database, INGEST_ONLY_CONFIG);
    let b = host(dir.path(), "b", &database, FAST_DELIVERY_CONFIG);
    let (admin_a, admin_b) = (a.admin(), b.admin());
    let v1 = std::fs::read(fixture("echo-v1")).unwrap();
    let (status, body) = upload_plugin(&a, ADMIN_KEY, v1).await;
    assert_eq!(status, 201, "{body}");
    until_listed(&admin_b, "echo", Some("1.0.0")).await;
    let automation = automation_on_links(
        &admin_a,
        "echo-links",
        &receiver.url("/echo"),
        json!({"type": "echo"}),
    )
    .await;
    let delivered = async |version: &str| {
        let event = post_event(&admin_a, &link("churn", version)).await;
        let execution = settled(&admin_a, &event, Duration::from_secs(20)).await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
        let seen = receiver.requests();
        seen.last().unwrap().header("x-echo-version")
    };
    assert_eq!(
        delivered("v1").await,
        "1.0.0",
        "run by B, installed through A"
    );

    let v2 = std::fs::read(fixture("echo-v2")).unwrap();
    let (status, body) = upload_plugin(&a, ADMIN_KEY, v2).await;
    assert_eq!(status, 200, "{body}");
    until_listed(&admin_b, "echo", Some("2.0.0")).await;
    assert_eq!(delivered("v2").await, "2.0.0", "the new version, on B");

    // A host started afterwards installs it from the database at start.
    let c = host(dir.path(), "c", &database, INGEST_ONLY_CONFIG);
    assert_eq!(
        listed_version(&c.admin(), "echo").await.as_deref(),
        Some("2.0.0")
    );

    assert_eq!(
        admin_a
            .delete(&format!("/v1/automations/{automation}"))
            .await
            .0,
        204
    );
    let (status, body) = admin_a.delete("/v1/plugins/echo").await;
    assert_eq!(status, 204, "{body}");
    until_listed(&admin_b, "echo", None).await;
    until_listed(&c.admin(), "echo", None).await;
    assert!(
        !dir.path()
            .join("b")
            .join("plugins")
            .join("echo.wasm")
            .exists(),
        "B's copy is gone too"
    );
}
