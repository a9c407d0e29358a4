//! Run liveness through the real binary: a run that goes silent is reported `FAILED` with reason
//! `crashed`, once; a heartbeat keeps a quiet run alive; an ended run is never reported; a
//! launched run's liveness is its lease, not what it sends.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, INGEST_ONLY_CONFIG, Server, agent_key, eventually, expect_status,
};

/// Runs silent for a second count as crashed.
pub(crate) fn config() -> String {
    format!("{INGEST_ONLY_CONFIG}[runs]\ncrash_after = \"1s\"\n")
}

fn state(run: &str, state: &str) -> Value {
    json!({"type": "RUN_STATE", "entity": "default", "project": "train", "run_id": run,
           "run_name": format!("name-{run}"), "state": state})
}

fn sample(run: &str, step: u64) -> Value {
    json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": run,
           "step": step, "metrics": {"loss": 0.5}})
}

/// An automation on the project's failed runs.
pub(crate) async fn on_failures(admin: &Api) -> String {
    crate::common::create_automation(
        admin,
        json!({"name": "failed", "scope": {"type": "project", "project": "train"},
               "event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}}, "action": {"type": "no-op"}}),
    )
    .await
}

/// The runs reported failed so far: (run id, reason, run name), from the automation's events.
pub(crate) async fn failures(admin: &Api, automation: &str) -> Vec<(String, String, String)> {
    let page = admin
        .get(&format!(
            "/v1/automations/{automation}/executions?limit=100"
        ))
        .await;
    let mut failed = Vec::new();
    for execution in expect_status(&page, 200)["executions"].as_array().unwrap() {
        let id = execution["event_id"].as_str().unwrap();
        let event = admin.get(&format!("/v1/events/{id}")).await.1["event"].clone();
        let text = |field: &str| event[field].as_str().unwrap_or_default().to_string();
        failed.push((text("run_id"), text("reason"), text("run_name")));
    }
    failed.sort();
    failed
}

async fn heartbeat(admin: &Api, run: &str) -> Value {
    let path = format!("/v1/entities/default/projects/train/runs/{run}/heartbeat");
    expect_status(&admin.post(&path, &json!({})).await, 200).clone()
}

#[tokio::test]
async fn a_silent_run_is_reported_crashed_once_and_a_heartbeat_keeps_a_quiet_one_alive() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &config(),
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let failed = on_failures(&admin).await;
    for event in [
        // Started, logged, then killed: silent.
        state("killed", "RUNNING"),
        sample("killed", 1),
        // Never posted RUNNING: its samples make it a running run all the same.
        sample("samples-only", 1),
        // Ended: never reported.
        state("finished", "RUNNING"),
        state("finished", "FINISHED"),
        // Quiet but alive: heartbeats below.
        state("quiet", "RUNNING"),
    ] {
        crate::common::post_event(&admin, &event).await;
    }
    // The quiet run heartbeats for 2.5 s (well past crash_after) while the others fall silent.
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        assert_eq!(heartbeat(&admin, "quiet").await["state"], "running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reported = failures(&admin, &failed).await;
    assert_eq!(
        reported,
        [
            ("killed".into(), "crashed".into(), "name-killed".into()),
            ("samples-only".into(), "crashed".into(), String::new()),
        ],
        "{reported:?}"
    );
    // Then the quiet run stops heartbeating: it is reported too, and nothing twice.
    let reported = eventually(
        Duration::from_secs(10),
        "the quiet run's report",
        async || {
            let reported = failures(&admin, &failed).await;
            match reported.len() {
                3.. => Ok(reported),
                _ => Err(format!("{reported:?}")),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(failures(&admin, &failed).await, reported);
    assert_eq!(reported.len(), 3, "{reported:?}");
    assert_eq!(reported[1].0, "quiet");
    // A crashed run is ended: a heartbeat does not bring it back, a new RUNNING does.
    assert_eq!(heartbeat(&admin, "killed").await["state"], "ended");
    crate::common::post_event(&admin, &state("killed", "RUNNING")).await;
    assert_eq!(heartbeat(&admin, "killed").await["state"], "running");
}

#[tokio::test]
async fn a_launched_runs_liveness_is_its_lease_not_what_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &config(),
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let failed = on_failures(&admin).await;
    expect_status(
        &admin
            .put(
                "/v1/entities/default/jobs/quiet",
                &json!({"command": ["sleep", "60"]}),
            )
            .await,
        201,
    );
    expect_status(
        &admin
            .post("/v1/entities/default/queues", &json!({"name": "gpu"}))
            .await,
        201,
    );
    let item = crate::common::created(
        &admin,
        "/v1/entities/default/queues/gpu/items",
        &json!({"job": "quiet", "project": "train"}),
        "id",
    )
    .await;
    let agent = server.client(&agent_key(&admin, &["gpu"]).await);
    let claim = agent
        .post(
            "/v1/entities/default/queues/gpu/claim",
            &json!({"agent": "a", "lease_seconds": 60}),
        )
        .await;
    let claim = expect_status(&claim, 200).clone();
    let lease = &claim["lease_token"];
    // Started (RUNNING through the host), then a sample with the run token; then quiet for
    // longer than crash_after while its agent keeps the lease.
    let heartbeat = format!("/v1/entities/default/items/{item}/heartbeat");
    expect_status(
        &agent
            .post(&heartbeat, &json!({"lease_token": lease, "started": true}))
            .await,
        200,
    );
    let job = server.client(claim["run_token"].as_str().unwrap());
    let posted = job.post("/v1/events", &sample(&item, 1)).await;
    expect_status(&posted, 202);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(failures(&admin, &failed).await.is_empty());
    // Which the run token cannot fake either: it may post events, not heartbeats.
    let path = format!("/v1/entities/default/projects/train/runs/{item}/heartbeat");
    expect_status(&job.post(&path, &json!({})).await, 403);
}
