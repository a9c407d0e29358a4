//! `GET /v1/events/{id}/explanation` and `herald events why`: every automation listening for an
//! event's type is listed with what stopped it (scope, filter, disabled, not yet created, rate
//! limit, missing sample, cooldown, a change since), and what fired is listed even after its
//! automation is deleted.

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Api, Server, create_automation, expect_status, herald, post_event};

/// A no-op automation on RUN_STATE events in `project`.
async fn on_state(admin: &Api, name: &str, project: &str, filter: Value) -> String {
    let mut event = json!({"type": "RUN_STATE"});
    if !filter.is_null() {
        event["filter"] = filter;
    }
    let body = json!({"name": name, "scope": {"type": "project", "project": project},
                      "event": event, "action": {"type": "no-op"}});
    create_automation(admin, body).await
}

/// The explanation's entry for the automation named `name`.
fn entry<'a>(explained: &'a Value, name: &str) -> &'a Value {
    explained["considered"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not considered: {explained:#}"))
}

async fn explain(admin: &Api, event: &str) -> Value {
    let path = format!("/v1/events/{event}/explanation");
    expect_status(&admin.get(&path).await, 200).clone()
}

fn failed(project: &str) -> Value {
    json!({"type": "RUN_STATE", "entity": "default", "project": project, "run_id": "r1",
           "state": "FAILED"})
}

#[tokio::test]
async fn each_automation_listening_for_the_type_says_what_stopped_it() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let fires = on_state(&admin, "fires", "train", json!({"state": "FAILED"})).await;
    on_state(&admin, "elsewhere", "other", Value::Null).await;
    let finished = on_state(
        &admin,
        "finished-only",
        "train",
        json!({"state": "FINISHED"}),
    )
    .await;
    let off = on_state(&admin, "switched-off", "train", Value::Null).await;
    let path = format!("/v1/automations/{off}");
    expect_status(&admin.patch(&path, &json!({"enabled": false})).await, 200);
    let limited = json!({"name": "limited", "scope": {"type": "project", "project": "train"},
                         "event": {"type": "RUN_STATE"}, "action": {"type": "no-op"},
                         "rate_limit": {"max": 1, "per_seconds": 3600}});
    create_automation(&admin, limited).await;
    let links = json!({"name": "links", "scope": {"type": "entity"},
                       "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "no-op"}});
    create_automation(&admin, links).await;

    let first = post_event(&admin, &failed("train")).await;
    let second = post_event(&admin, &failed("train")).await;
    on_state(&admin, "newcomer", "train", Value::Null).await;

    let explained = explain(&admin, &second).await;
    assert_eq!(explained["event_id"], second.as_str());
    assert_eq!(explained["event_type"], "RUN_STATE");
    assert_eq!(
        explained["other_event_types"], 1,
        "the LINK_ARTIFACT automation is counted, not listed: {explained:#}"
    );
    let verdicts: Vec<(&str, &str)> = explained["considered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("fires", "fired"),
            ("limited", "skipped"),
            ("elsewhere", "scope"),
            ("finished-only", "filter"),
            ("newcomer", "not_yet_listening"),
            ("switched-off", "disabled"),
        ],
        "what fired first, then by name: {explained:#}"
    );
    let limited = entry(&explained, "limited");
    assert!(
        limited["reason"].as_str().unwrap().contains("rate limit"),
        "{limited}"
    );
    assert!(limited["execution_id"].is_string());
    let elsewhere = entry(&explained, "elsewhere")["reason"].as_str().unwrap();
    assert!(elsewhere.contains("outside its scope") && elsewhere.contains("other"));
    let filtered = entry(&explained, "finished-only")["reason"]
        .as_str()
        .unwrap();
    assert!(filtered.contains("FINISHED"), "{filtered}");
    let fired = entry(&explained, "fires");
    let detail = expect_status(&admin.get(&format!("/v1/events/{second}")).await, 200).clone();
    assert!(
        detail["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == fired["execution_id"]),
        "the execution named is the event's: {fired}"
    );

    // A filter changed to hold now: judged on the new definition, and said so.
    let path = format!("/v1/automations/{finished}");
    let changed = json!({"event": {"type": "RUN_STATE", "filter": {"state": "FAILED"}}});
    expect_status(&admin.patch(&path, &changed).await, 200);
    let explained = explain(&admin, &first).await;
    let now = entry(&explained, "finished-only");
    assert_eq!(now["verdict"], "changed", "{now}");
    assert_eq!(now["changed_since"], true);
    assert_eq!(entry(&explained, "limited")["verdict"], "fired");

    // What fired stays listed once its automation is gone.
    expect_status(
        &admin.delete(&format!("/v1/automations/{fires}")).await,
        204,
    );
    let explained = explain(&admin, &first).await;
    assert_eq!(entry(&explained, "fires")["verdict"], "fired");

    // The same answer on the command line, as a table.
    let output = herald(&[
        "--url",
        &server.url,
        "--key",
        ADMIN_KEY,
        "events",
        "why",
        &first,
    ])
    .await;
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}");
    assert!(table.starts_with("VERDICT"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("disabled") && l.contains("switched-off")),
        "{table}"
    );

    let (status, body) = admin
        .get("/v1/events/0190a0a0-0000-7000-8000-000000000000/explanation")
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_metric_automation_says_missing_sample_cooldown_or_condition() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let body = json!({"name": "loss-high", "scope": {"type": "project", "project": "train"},
                      "event": {"type": "RUN_METRIC_THRESHOLD",
                                "metric": {"name": "loss", "window": 1, "agg": "none",
                                           "cmp": "$gt", "value": 0.5,
                                           "cooldown_seconds": 3600}},
                      "action": {"type": "no-op"}});
    create_automation(&admin, body).await;
    let sample = |run: &str, step: u64, metrics: Value| {
        json!({"type": "RUN_METRIC", "entity": "default", "project": "train", "run_id": run,
               "step": step, "metrics": metrics})
    };
    let verdict = |explained: &Value| {
        let entry = entry(explained, "loss-high");
        (
            entry["verdict"].as_str().unwrap().to_string(),
            entry["reason"].as_str().unwrap().to_string(),
        )
    };
    let low = post_event(&admin, &sample("r1", 1, json!({"loss": 0.1}))).await;
    let (verdict_low, reason) = verdict(&explain(&admin, &low).await);
    assert_eq!(verdict_low, "condition");
    assert!(
        reason.contains("loss") && reason.contains("0.5"),
        "{reason}"
    );

    let high = post_event(&admin, &sample("r1", 2, json!({"loss": 0.9}))).await;
    assert_eq!(verdict(&explain(&admin, &high).await).0, "fired");

    let again = post_event(&admin, &sample("r1", 3, json!({"loss": 0.95}))).await;
    let (verdict_again, reason) = verdict(&explain(&admin, &again).await);
    assert_eq!(verdict_again, "cooldown", "{reason}");
    assert!(reason.contains("3600"), "{reason}");

    // Another run is not in this one's cooldown.
    let other_run = post_event(&admin, &sample("r2", 1, json!({"loss": 0.9}))).await;
    assert_eq!(verdict(&explain(&admin, &other_run).await).0, "fired");

    let no_loss = post_event(&admin, &sample("r1", 4, json!({"accuracy": 0.9}))).await;
    let (verdict_none, reason) = verdict(&explain(&admin, &no_loss).await);
    assert_eq!(verdict_none, "condition");
    assert!(reason.contains("no sample of `loss`"), "{reason}");
}
