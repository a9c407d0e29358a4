//! The rules of run-metric evaluation that a run's history depends on, through the real binary:
//! one automation's filter never changes another's window, an automation enabled again or edited
//! starts anew (and a restart agrees), `max_runs` bounds memory without changing a result, and a
//! step logged twice or late is taken as W&B keys history: by step.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Api, INGEST_ONLY_CONFIG, Server, expect_status};

/// A no-op automation on project `train` with a metric condition (and an event filter).
async fn watch(admin: &Api, name: &str, kind: &str, metric: Value, filter: Value) -> String {
    let mut event = json!({"type": kind, "metric": metric});
    if !filter.is_null() {
        event["filter"] = filter;
    }
    let body = json!({"name": name, "scope": {"type": "project", "project": "train"},
                      "event": event, "action": {"type": "no-op"}});
    crate::common::create_automation(admin, body).await
}

/// Posts one sample; returns whether `automation` fired at it.
async fn post(admin: &Api, run: &str, step: u64, metrics: Value, automation: &str) -> bool {
    let body = json!({"type": "RUN_METRIC", "entity": "default", "project": "train",
                      "run_id": run, "step": step, "metrics": metrics});
    let posted = expect_status(&admin.post("/v1/events", &body).await, 202).clone();
    let id = posted["event_id"].as_str().unwrap();
    let event = expect_status(&admin.get(&format!("/v1/events/{id}")).await, 200).clone();
    event["executions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["automation_id"] == automation)
}

/// Posts `loss` values at steps `first`, `first + 1`, …; returns the steps `automation` fired at.
async fn feed(admin: &Api, run: &str, first: u64, values: &[f64], automation: &str) -> Vec<u64> {
    let mut fired = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let step = first + i as u64;
        if post(admin, run, step, json!({ "loss": value }), automation).await {
            fired.push(step);
        }
    }
    fired
}

async fn set_enabled(admin: &Api, id: &str, enabled: bool) {
    let path = format!("/v1/automations/{id}");
    expect_status(
        &admin.patch(&path, &json!({ "enabled": enabled })).await,
        200,
    );
}

#[tokio::test]
async fn another_automations_filter_never_changes_a_window() {
    let server = Server::ingest_only();
    let admin = server.admin();
    // Average of the last 3 losses > 0.5, evaluated at samples flagged 1.
    let flagged = watch(
        &admin,
        "flagged",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5,
               "cooldown_seconds": 0}),
        json!({"metrics.flag": 1}),
    )
    .await;
    let sequence = [
        (1.0, 1),
        (1.0, 0),
        (0.0, 1),
        (1.0, 1),
        (0.0, 0),
        (1.0, 1),
        (0.0, 0),
        (0.0, 1),
    ];
    let run = async |run: &str| {
        let mut fired = Vec::new();
        for (i, (loss, flag)) in sequence.iter().enumerate() {
            let step = i as u64 + 1;
            let metrics = json!({"loss": loss, "flag": flag});
            if post(&admin, run, step, metrics, &flagged).await {
                fired.push(step);
            }
        }
        fired
    };
    // The window is the run's last 3 losses, flagged or not.
    assert_eq!(run("alone").await, [3, 4, 6]);
    // An unrelated automation on the same metric, with a window of 1, changes nothing.
    watch(
        &admin,
        "huge",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 1, "cmp": "$gt", "value": 100.0}),
        Value::Null,
    )
    .await;
    assert_eq!(run("beside-another").await, [3, 4, 6]);
}

#[tokio::test]
async fn enabled_again_an_automation_starts_anew_and_a_restart_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    // Default cooldown (a day): it fires once per run per listening period.
    let high = watch(
        &admin,
        "high",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 1, "cmp": "$gt", "value": 0.5}),
        Value::Null,
    )
    .await;
    set_enabled(&admin, &high, false).await;
    // Samples it never sees.
    let mut whole = feed(&admin, "whole", 1, &[1.0, 1.0], &high).await;
    let mut split = feed(&admin, "split", 1, &[1.0, 1.0], &high).await;
    set_enabled(&admin, &high, true).await;
    whole.extend(feed(&admin, "whole", 3, &[1.0], &high).await);
    // A restart before the first sample it sees: the rebuilt run must not count the samples it
    // never saw (their firing would hold the next one back).
    server.terminate(Duration::from_secs(10));
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    split.extend(feed(&admin, "split", 3, &[1.0], &high).await);
    assert_eq!(
        (whole.as_slice(), split.as_slice()),
        ([3].as_slice(), [3].as_slice())
    );
    // Then its cooldown holds on both, rebuilt or not.
    assert!(feed(&admin, "whole", 4, &[1.0], &high).await.is_empty());
    assert!(feed(&admin, "split", 4, &[1.0], &high).await.is_empty());

    // Disabled and enabled again mid-run, it starts anew: the firing at step 3 does not hold
    // back step 5 (cooldown) and step 4 is not in its window.
    set_enabled(&admin, &high, false).await;
    set_enabled(&admin, &high, true).await;
    assert_eq!(feed(&admin, "whole", 5, &[1.0, 1.0], &high).await, [5]);
}

#[tokio::test]
async fn an_edited_condition_starts_from_the_next_sample_and_a_restart_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    let average = |window: u32| {
        json!({"name": "loss", "window": window, "agg": "AVERAGE", "cmp": "$gt", "value": 0.5,
               "cooldown_seconds": 0})
    };
    let rising = watch(
        &admin,
        "rising",
        "RUN_METRIC_THRESHOLD",
        average(2),
        Value::Null,
    )
    .await;
    let mut whole = feed(&admin, "whole", 1, &[1.0, 1.0], &rising).await;
    let mut split = feed(&admin, "split", 1, &[1.0, 1.0], &rising).await;
    // The window widens to 3: it fills with samples from the next one on.
    let widened = json!({"event": {"type": "RUN_METRIC_THRESHOLD", "metric": average(3)}});
    expect_status(
        &admin
            .patch(&format!("/v1/automations/{rising}"), &widened)
            .await,
        200,
    );
    whole.extend(feed(&admin, "whole", 3, &[1.0, 1.0], &rising).await);
    split.extend(feed(&admin, "split", 3, &[1.0, 1.0], &rising).await);
    server.terminate(Duration::from_secs(10));
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    whole.extend(feed(&admin, "whole", 5, &[1.0], &rising).await);
    split.extend(feed(&admin, "split", 5, &[1.0], &rising).await);
    assert_eq!(whole, [2, 5]);
    assert_eq!(split, whole);
}

#[tokio::test]
async fn max_runs_bounds_memory_without_changing_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{INGEST_ONLY_CONFIG}[run_metrics]\nmax_runs = 2\n");
    let server = Server::start_with(
        &dir.path().join("data"),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    // Once per run per day.
    let high = watch(
        &admin,
        "high",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 1, "cmp": "$gt", "value": 0.5}),
        Value::Null,
    )
    .await;
    // One batch over 6 runs, each logging three times: 6 firings, not 18.
    let batch: Vec<Value> = (0..18)
        .map(|n| {
            json!({"type": "RUN_METRIC", "entity": "default", "project": "train",
                   "run_id": format!("r{}", n % 6), "step": n / 6 + 1, "metrics": {"loss": 1.0}})
        })
        .collect();
    let posted = admin
        .post("/v1/events/batch", &json!({ "events": batch }))
        .await;
    expect_status(&posted, 202);
    let listing = format!("/v1/automations/{high}/executions?limit=100");
    let executions = async || {
        let page = admin.get(&listing).await;
        expect_status(&page, 200)["executions"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(executions().await, 6);
    // Evicted runs are rebuilt when they log again: their cooldowns still hold.
    for n in 0..6 {
        assert!(
            !post(&admin, &format!("r{n}"), 4, json!({"loss": 1.0}), &high).await,
            "r{n}"
        );
    }
    assert_eq!(executions().await, 6);
}

#[tokio::test]
async fn a_step_logged_again_replaces_its_value_and_an_older_step_moves_nothing() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let average = watch(
        &admin,
        "average",
        "RUN_METRIC_THRESHOLD",
        json!({"name": "loss", "window": 2, "agg": "AVERAGE", "cmp": "$gt", "value": 1.5,
               "cooldown_seconds": 0}),
        Value::Null,
    )
    .await;
    let mut fired = Vec::new();
    // (step, loss): step 2 again replaces 0 with 2; step 1 late changes nothing.
    for (nth, (step, loss)) in [(1, 2.0), (2, 0.0), (2, 2.0), (1, 5.0), (3, 1.0), (4, 3.0)]
        .into_iter()
        .enumerate()
    {
        if post(&admin, "steps", step, json!({ "loss": loss }), &average).await {
            fired.push(nth);
        }
    }
    // The window after each: [2], [2, 0], [2, 2] fires, [2, 2] (no evaluation), [2, 1], [1, 3].
    assert_eq!(fired, [2, 5]);
}

#[tokio::test]
async fn a_flat_window_has_z_zero_and_an_exact_boundary_is_reached() {
    let server = Server::ingest_only();
    let admin = server.admin();
    // A flat series: every deviation is 0, so z is 0 and a threshold of 1 never holds (a mean
    // one ulp off made every z ±1).
    let flat = watch(
        &admin,
        "flat",
        "RUN_METRIC_ZSCORE",
        json!({"name": "loss", "window": 3, "threshold": 1.0, "direction": "ANY", "cooldown_seconds": 0}),
        Value::Null,
    )
    .await;
    assert!(feed(&admin, "flat", 1, &[1.4; 8], &flat).await.is_empty());
    // Mean 0.25 and deviation 0.15 over (0.1, 0.4, 0.1, 0.4): -0.2 is z = -3 exactly, which
    // "reaches" a threshold of 3 downwards, though floating point makes it -2.9999999999999996
    // (within the documented 4 ulps).
    let exact = watch(
        &admin,
        "exact",
        "RUN_METRIC_ZSCORE",
        json!({"name": "loss", "window": 4, "threshold": 3.0, "direction": "DECREASE", "cooldown_seconds": 0}),
        Value::Null,
    )
    .await;
    let fired = feed(&admin, "exact", 1, &[0.1, 0.4, 0.1, 0.4, -0.2], &exact).await;
    assert_eq!(fired, [5]);
}
