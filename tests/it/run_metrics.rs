//! Run-metric automations through the real binary: threshold, change and z-score conditions fire
//! at known samples, cooldowns, scope and filter, a restart in the middle of a run, and the metric
//! variables in the payload a real receiver gets.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, Receiver, Server, expect_status};

/// A no-op automation on `kind` with `metric`, scoped to project `train`, whose payload shows the
/// metric variables.
async fn watch(admin: &Api, name: &str, kind: &str, metric: Value) -> String {
    let body = json!({
        "name": name,
        "scope": {"type": "project", "project": "train"},
        "event": {"type": kind, "metric": metric},
        "action": {"type": "no-op", "payload": {"metric": "${metric_name}", "value": "${metric_value}",
                   "values": "${metric_values}", "condition": "${metric_condition}", "step": "${step}",
                   "run": "${run_name}"}}
    });
    crate::common::create_automation(admin, body).await
}

/// An ingest-only server in a temporary directory (kept alive by the returned guard), and its admin.
fn ingest_only() -> (tempfile::TempDir, Server, Api) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    (dir, server, admin)
}

fn sample(run: &str, step: u64, metrics: Value) -> Value {
    json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": run,
           "run_name": format!("name-{run}"), "step": step, "metrics": metrics})
}

/// Posts `values` of `metric` for `run` one event at a time (steps 1, 2, …) and returns the steps
/// after which `automation` fired, with the rendered payloads.
async fn feed(
    admin: &Api,
    run: &str,
    metric: &str,
    values: &[Value],
    first_step: u64,
    automation: &str,
) -> Vec<(u64, Value)> {
    let mut fired = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let step = first_step + i as u64;
        let posted = expect_status(
            &admin
                .post("/v1/events", &sample(run, step, json!({ metric: value })))
                .await,
            202,
        )
        .clone();
        let (_, event) = admin
            .get(&format!(
                "/v1/events/{}",
                posted["event_id"].as_str().unwrap()
            ))
            .await;
        for execution in event["executions"].as_array().unwrap() {
            if execution["automation_id"] == automation {
                fired.push((step, execution["payload"].clone()));
            }
        }
    }
    fired
}

fn steps(fired: &[(u64, Value)]) -> Vec<u64> {
    fired.iter().map(|(step, _)| *step).collect()
}

fn numbers(values: &[f64]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

#[tokio::test]
async fn threshold_conditions_fire_at_their_samples() {
    let (_dir, _server, admin) = ingest_only();
    let average = watch(
        &admin,
        "avg-loss",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5, "cooldown_seconds": 0}),
    )
    .await;
    // The window is not full until the third value; then avg(0.9, 0.9, 0.0) = 0.6 > 0.5.
    let fired = feed(
        &admin,
        "r1",
        "loss",
        &numbers(&[0.9, 0.9, 0.0, 0.0, 0.3]),
        1,
        &average,
    )
    .await;
    assert_eq!(steps(&fired), [3]);
    // The execution says what fired it.
    let (_, executions) = admin
        .get(&format!("/v1/automations/{average}/executions"))
        .await;
    assert_eq!(
        executions["executions"][0]["metric"],
        json!({"name": "loss", "value": 0.6, "values": [0.9, 0.9, 0.0],
               "condition": "average of loss over the last 3 values > 0.5"})
    );
    assert_eq!(
        fired[0].1,
        // Template values stay strings, except a string that is exactly one variable holding an
        // array (`${metric_values}`).
        json!({"metric": "loss", "value": "0.6", "values": [0.9, 0.9, 0.0],
               "condition": "average of loss over the last 3 values > 0.5", "step": "3", "run": "name-r1"})
    );
    // Exactly at the threshold: $gte fires, $gt does not.
    let gte = watch(
        &admin,
        "acc-gte",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "acc", "cmp": "$gte", "value": 0.5, "cooldown_seconds": 0}),
    )
    .await;
    let fired = feed(&admin, "r2", "acc", &numbers(&[0.4, 0.5, 0.6]), 1, &gte).await;
    assert_eq!(steps(&fired), [2, 3]);
    // Each comparison, with the value 2 exactly at the threshold.
    for (cmp, expected) in [
        ("$gt", vec![3]),
        ("$gte", vec![2, 3]),
        ("$lt", vec![1]),
        ("$lte", vec![1, 2]),
        ("$eq", vec![2]),
        ("$ne", vec![1, 3]),
    ] {
        let metric = format!("c{}", cmp.trim_start_matches('$'));
        let id = watch(
            &admin,
            &format!("cmp-{metric}"),
            "RUN_METRIC_THRESHOLD",
            json!({"name": metric, "cmp": cmp, "value": 2.0, "cooldown_seconds": 0}),
        )
        .await;
        let fired = feed(
            &admin,
            &format!("run-{metric}"),
            &metric,
            &numbers(&[1.0, 2.0, 3.0]),
            1,
            &id,
        )
        .await;
        assert_eq!(steps(&fired), expected, "{cmp}");
    }
    // A sequence that never fires.
    let never = watch(
        &admin,
        "never",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "lr", "cmp": "$lt", "value": 0.0, "cooldown_seconds": 0}),
    )
    .await;
    assert!(
        feed(&admin, "r3", "lr", &numbers(&[0.1, 0.01, 0.001]), 1, &never)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn change_and_zscore_conditions_fire_at_their_samples() {
    let (_dir, _server, admin) = ingest_only();
    let relative = watch(
        &admin,
        "acc-drop",
        "RUN_METRIC_CHANGE",
        json!({"name": "acc", "current_window": 1, "prior_window": 1, "change": "RELATIVE",
               "direction": "ANY", "amount": 1.0, "cooldown_seconds": 0}),
    )
    .await;
    // prior = 0: no change when cur = 0, infinite otherwise.
    let fired = feed(
        &admin,
        "c1",
        "acc",
        &numbers(&[0.0, 0.0, 5.0]),
        1,
        &relative,
    )
    .await;
    assert_eq!(steps(&fired), [3]);
    assert_eq!(fired[0].1["value"], "Infinity");

    let z = watch(
        &admin,
        "spike",
        "RUN_METRIC_ZSCORE",
        json!({"name": "gpu", "window": 4, "threshold": 2.0, "direction": "INCREASE", "cooldown_seconds": 0}),
    )
    .await;
    // Mean 2, population std 1 over (1, 3, 1, 3): 4 is z = 2, exactly the threshold.
    let fired = feed(
        &admin,
        "z1",
        "gpu",
        &numbers(&[1.0, 3.0, 1.0, 3.0, 4.0]),
        1,
        &z,
    )
    .await;
    assert_eq!(steps(&fired), [5]);
    assert_eq!(fired[0].1["value"], "2.0");
    // std = 0: the mean itself is z = 0; anything else is infinite.
    let flat = watch(
        &admin,
        "flat",
        "RUN_METRIC_ZSCORE",
        json!({"name": "temp", "window": 2, "direction": "ANY", "cooldown_seconds": 0}),
    )
    .await;
    let fired = feed(
        &admin,
        "z2",
        "temp",
        &numbers(&[5.0, 5.0, 5.0, 6.0]),
        1,
        &flat,
    )
    .await;
    assert_eq!(steps(&fired), [4]);
}

#[tokio::test]
async fn nan_and_infinity_hold_every_condition_and_bad_values_are_400() {
    let (_dir, _server, admin) = ingest_only();
    let average = watch(
        &admin,
        "avg-loss",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 5, "agg": "AVERAGE", "cmp": "$gt", "value": 100.0, "cooldown_seconds": 0}),
    )
    .await;
    let values = [json!(1.0), json!("NaN"), json!(1.0), json!("-Infinity")];
    let fired = feed(&admin, "n1", "loss", &values, 1, &average).await;
    assert_eq!(steps(&fired), [2, 4], "whatever the window");
    assert_eq!(fired[0].1["value"], "NaN");
    assert_eq!(fired[1].1["value"], "-Infinity");

    for bad in [json!("nan"), json!(null), json!([1]), json!("1.0")] {
        let (status, body) = admin
            .post("/v1/events", &sample("n1", 9, json!({ "loss": bad })))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("metrics.loss: must be a number or one of"),
            "{bad}: {message}"
        );
    }
}

#[tokio::test]
async fn an_automation_fires_once_per_run_per_cooldown() {
    let (_dir, server, admin) = ingest_only();
    let day = watch(
        &admin,
        "high-loss",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "cmp": "$gt", "value": 1.0}),
    )
    .await;
    let high = numbers(&[2.0, 3.0, 4.0]);
    assert_eq!(steps(&feed(&admin, "a", "loss", &high, 1, &day).await), [1]);
    assert_eq!(
        steps(&feed(&admin, "b", "loss", &high, 1, &day).await),
        [1],
        "another run fires on its own"
    );
    let text = crate::common::metrics_text(&server).await;
    assert!(
        text.contains("herald_metric_firings_suppressed_total 4"),
        "two held-inside-cooldown samples per run: {text}"
    );

    let short = watch(
        &admin,
        "short",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "acc", "cmp": "$lt", "value": 0.5, "cooldown_seconds": 1}),
    )
    .await;
    assert_eq!(
        steps(&feed(&admin, "c", "acc", &numbers(&[0.1, 0.1]), 1, &short).await),
        [1]
    );
    // The cooldown is time: waiting it out is the condition.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        steps(&feed(&admin, "c", "acc", &numbers(&[0.1]), 3, &short).await),
        [3]
    );
}

#[tokio::test]
async fn other_projects_and_filtered_out_runs_never_fire() {
    let (_dir, _server, admin) = ingest_only();
    let filtered = watch(
        &admin,
        "prod-runs",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 0}),
    )
    .await;
    expect_status(
        &admin
            .patch(
                &format!("/v1/automations/{filtered}"),
                &json!({"event": {"type": "RUN_METRIC_THRESHOLD",
                        "filter": {"run_name": {"$regex": "^name-prod"}},
                        "metric": {"name": "loss", "cmp": "$gt", "value": 1.0, "cooldown_seconds": 0}}}),
            )
            .await,
        200,
    );
    assert!(
        feed(&admin, "dev1", "loss", &numbers(&[5.0]), 1, &filtered)
            .await
            .is_empty()
    );
    assert_eq!(
        steps(&feed(&admin, "prod1", "loss", &numbers(&[5.0]), 1, &filtered).await),
        [1]
    );
    let mut elsewhere = sample("prod2", 1, json!({"loss": 5.0}));
    elsewhere["project"] = json!("eval");
    let posted = expect_status(&admin.post("/v1/events", &elsewhere).await, 202).clone();
    assert_eq!(posted["matched"], 0, "another project's run: {posted}");
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_run_fires_at_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    let metric = json!({"name": "loss", "current_window": 2, "prior_window": 2, "change": "ABSOLUTE",
                        "direction": "INCREASE", "amount": 1.0, "cooldown_seconds": 0});
    let change = watch(&admin, "jump", "RUN_METRIC_CHANGE", metric).await;
    let cooled = watch(
        &admin,
        "cooled",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "cmp": "$gt", "value": 1.5}),
    )
    .await;
    let sequence = numbers(&[1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 1.0, 1.0, 3.0, 4.0]);
    // Uninterrupted, on one run.
    let whole = feed(&admin, "whole", "loss", &sequence, 1, &change).await;
    // Half, a restart, the rest, on another.
    let mut halves = feed(&admin, "split", "loss", &sequence[..5], 1, &change).await;
    let first_cooled = feed(&admin, "split2", "loss", &sequence[..5], 1, &cooled).await;
    server.terminate(Duration::from_secs(10));
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    halves.extend(feed(&admin, "split", "loss", &sequence[5..], 6, &change).await);
    let later_cooled = feed(&admin, "split2", "loss", &sequence[5..], 6, &cooled).await;
    assert_eq!(steps(&halves), steps(&whole));
    assert_eq!(steps(&whole), [5, 6, 10]);
    assert_eq!(steps(&first_cooled), [4]);
    assert!(
        later_cooled.is_empty(),
        "the cooldown survived the restart: {later_cooled:?}"
    );
}

#[tokio::test]
async fn an_automation_created_mid_run_starts_from_its_next_sample() {
    let (_dir, _server, admin) = ingest_only();
    let early = watch(
        &admin,
        "early",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 2, "agg": "MAX", "cmp": "$gt", "value": 100.0, "cooldown_seconds": 0}),
    )
    .await;
    feed(&admin, "m", "loss", &numbers(&[1.0, 2.0, 3.0]), 1, &early).await;
    let late = watch(
        &admin,
        "late",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 2, "agg": "AVERAGE", "cmp": "$gt", "value": 0.0, "cooldown_seconds": 0}),
    )
    .await;
    // Its window of 2 fills with samples 4 and 5, not with 2 and 3 stored before it existed.
    let fired = feed(&admin, "m", "loss", &numbers(&[4.0, 5.0]), 4, &late).await;
    assert_eq!(steps(&fired), [5]);
    assert_eq!(fired[0].1["values"], json!([4.0, 5.0]));
}

#[tokio::test]
async fn the_receiver_gets_the_metric_variables() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    crate::common::create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/alerts")}),
    )
    .await;
    crate::common::create_automation(&admin, json!({"name": "diverged", "scope": {"type": "project", "project": "train"},
                        "event": {"type": "RUN_METRIC_THRESHOLD",
                                  "metric": {"name": "loss", "window": 2, "agg": "MAX", "cmp": "$gte", "value": 1.0}},
                        "action": {"type": "webhook", "integration": "hook"}})).await;
    crate::common::create_integration(
        &admin,
        json!({"name": "chat", "kind": "slack", "url": receiver.url("/slack")}),
    )
    .await;
    crate::common::create_automation(&admin, json!({"name": "diverged-chat", "scope": {"type": "project", "project": "train"},
                        "event": {"type": "RUN_METRIC_THRESHOLD",
                                  "metric": {"name": "loss", "window": 2, "agg": "MAX", "cmp": "$gte", "value": 1.0}},
                        "action": {"type": "slack", "integration": "chat"}})).await;
    expect_status(
        &admin
            .post(
                "/v1/events/batch",
                &json!({"events": [sample("r", 10, json!({"loss": 0.5, "acc": 0.1})),
                                   sample("r", 11, json!({"loss": 1.5, "acc": 0.2}))]}),
            )
            .await,
        202,
    );
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let at = |path: &str| got.iter().find(|r| r.uri.path() == path).unwrap().json();
    let summary = "loss = 1.5 (max of loss over the last 2 values ≥ 1) at step 11";
    let slack = at("/slack");
    assert!(
        slack["blocks"]
            .to_string()
            .contains(&format!("*Metric:* {summary}")),
        "the default Slack message says what crossed: {slack}"
    );
    let body = at("/alerts");
    assert_eq!(
        body["metric"], summary,
        "and so does the default webhook document"
    );
    let variables = &body["variables"];
    assert_eq!(variables["metric_name"], "loss");
    assert_eq!(variables["metric_value"], 1.5);
    assert_eq!(variables["metric_values"], json!([0.5, 1.5]));
    assert_eq!(
        variables["metric_condition"],
        "max of loss over the last 2 values ≥ 1"
    );
    assert_eq!(variables["step"], 11);
    assert_eq!(variables["run_id"], "r");
    assert_eq!(body["event_type"], "RUN_METRIC");
}

#[tokio::test]
async fn samples_older_than_the_retention_are_purged_unless_they_fired() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[run_metrics]\nretention = \"1s\"\npurge_interval = \"100ms\"\n",
        crate::common::INGEST_ONLY_CONFIG
    );
    let server = Server::start_with(
        &dir.path().join("data"),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", crate::common::ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    watch(
        &admin,
        "high",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "cmp": "$gt", "value": 1.0}),
    )
    .await;
    let quiet = expect_status(
        &admin
            .post("/v1/events", &sample("r", 1, json!({"loss": 0.5})))
            .await,
        202,
    )["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let fired = expect_status(
        &admin
            .post("/v1/events", &sample("r", 2, json!({"loss": 5.0})))
            .await,
        202,
    )
    .clone();
    assert_eq!(fired["matched"], 1);
    let what = "the quiet sample to be purged";
    crate::common::eventually(Duration::from_secs(20), what, async || {
        match admin.get(&format!("/v1/events/{quiet}")).await {
            (404, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
    let (status, event) = admin
        .get(&format!(
            "/v1/events/{}",
            fired["event_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "a sample that fired stays with its execution");
    assert_eq!(event["executions"].as_array().unwrap().len(), 1);
}
