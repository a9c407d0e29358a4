//! Which automations an event triggers (scope and filter), and what their payloads hold:
//! template values stay strings, and idempotent posts create nothing new.

use serde_json::{Value, json};

use super::*;
use crate::common::expect_status;

#[tokio::test]
async fn events_trigger_only_the_automations_whose_scope_and_filter_hold() {
    let world = World::new().await;
    let admin = &world.admin;
    let mut ids = std::collections::BTreeMap::new();
    for (name, scope, event) in [
        (
            "project-a",
            json!({"type": "project", "project": "alpha"}),
            json!({"type": "RUN_STATE", "filter": {"state": "FAILED"}}),
        ),
        (
            "project-b",
            json!({"type": "project", "project": "beta"}),
            json!({"type": "RUN_STATE"}),
        ),
        (
            "entity-wide",
            json!({"type": "entity"}),
            json!({"type": "RUN_STATE", "filter": {"run_name": {"$regex": "^nightly"}}}),
        ),
        (
            "registry-models",
            json!({"type": "registry", "registry": "models"}),
            json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}}),
        ),
        (
            "project-models",
            json!({"type": "project", "project": "models"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
        (
            "churn-only",
            json!({"type": "collection", "registry": "models", "collection": "churn"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
        (
            "disabled",
            json!({"type": "entity"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
    ] {
        let mut body = automation(name, scope, event);
        body["enabled"] = json!(name != "disabled");
        let created = expect_status(&admin.post("/v1/automations", &body).await, 201).clone();
        ids.insert(name, created["id"].as_str().unwrap().to_string());
    }
    let fired = |event: Value| {
        let admin = admin.clone();
        let ids = ids.clone();
        async move {
            let r = admin.post("/v1/events", &event).await;
            let event_id = expect_status(&r, 202)["event_id"]
                .as_str()
                .unwrap()
                .to_string();
            let (_, stored) = admin.get(&format!("/v1/events/{event_id}")).await;
            let mut names: Vec<String> = stored["executions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let id = e["automation_id"].as_str().unwrap();
                    ids.iter()
                        .find(|(_, v)| v.as_str() == id)
                        .unwrap()
                        .0
                        .to_string()
                })
                .collect();
            names.sort();
            assert_eq!(
                r.1["matched"],
                names.len(),
                "matched counts what was created"
            );
            names
        }
    };
    let run = |project: &str, name: &str, state: &str| json!({"type": "RUN_STATE", "entity": "default", "project": project, "run_id": "r", "run_name": name, "state": state});
    assert_eq!(fired(run("alpha", "adhoc", "CRASHED")).await, ["project-a"]);
    assert_eq!(
        fired(run("alpha", "adhoc", "FINISHED")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        fired(run("alpha", "nightly-7", "FAILED")).await,
        ["entity-wide", "project-a"]
    );
    assert_eq!(
        fired(run("beta", "adhoc", "FAILED")).await,
        ["project-b"],
        "never project A's automation"
    );
    assert_eq!(
        fired(run("gamma", "nightly-1", "RUNNING")).await,
        ["entity-wide"]
    );
    // A registry and a project of the same name are different places.
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "churn",
            "production"
        ))
        .await,
        ["churn-only", "registry-models"]
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "fraud",
            "staging"
        ))
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("project", "models"),
            "churn",
            "production"
        ))
        .await,
        ["project-models"]
    );

    // Enabling, editing and deleting change what matches next, never what already ran.
    expect_status(
        &admin
            .patch(
                &format!("/v1/automations/{}", ids["disabled"]),
                &json!({"enabled": true}),
            )
            .await,
        200,
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "fraud",
            "staging"
        ))
        .await,
        ["disabled"]
    );
    let project_a = &ids["project-a"];
    let (_, before) = admin
        .get(&format!("/v1/automations/{project_a}/executions"))
        .await;
    let first = before["executions"][0].clone();
    expect_status(
        &admin
            .patch(
                &format!("/v1/automations/{project_a}"),
                &json!({"name": "renamed", "event": {"type": "RUN_STATE"}}),
            )
            .await,
        200,
    );
    assert_eq!(
        fired(run("alpha", "adhoc", "FINISHED")).await,
        ["project-a"],
        "the edited filter applies to new events"
    );
    expect_status(
        &admin.delete(&format!("/v1/automations/{project_a}")).await,
        204,
    );
    assert_eq!(
        fired(run("alpha", "adhoc", "FAILED")).await,
        Vec::<String>::new()
    );
    let (status, after) = admin
        .get(&format!("/v1/automations/{project_a}/executions"))
        .await;
    assert_eq!(status, 200, "a deleted automation's history stays: {after}");
    let kept = after["executions"].as_array().unwrap();
    assert_eq!(kept.len(), 3);
    let original = kept.iter().find(|e| e["id"] == first["id"]).unwrap();
    assert_eq!(
        original["automation"]["name"], "project-a",
        "the snapshot is what fired"
    );
    assert_eq!(
        original["automation"]["event"]["filter"],
        json!({"state": "FAILED"})
    );
    let (_, execution) = admin
        .get(&format!("/v1/executions/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(execution["status"], "pending");

    // The list filters by project and collection and shows the reference UI's columns.
    let (_, listed) = admin
        .get("/v1/automations?project=models&collection=churn")
        .await;
    let rows = listed["automations"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "churn-only");
    assert_eq!(rows[0]["trigger_type"], "ADD_ARTIFACT_ALIAS");
    assert_eq!(rows[0]["action_type"], "webhook");
    assert_eq!(rows[0]["action_name"], "ci");
    assert_eq!(rows[0]["queue"], Value::Null);
}

#[tokio::test]
async fn template_values_stay_strings_and_idempotent_posts_create_nothing_new() {
    let world = World::new().await;
    let admin = &world.admin;
    let mut body = automation(
        "tpl",
        json!({"type": "registry", "registry": "models"}),
        json!({"type": "LINK_ARTIFACT"}),
    );
    body["action"]["payload"] = json!({
        "who": "${event_author}",
        "what": ["${artifact_version_string}", "literal $${event_type}"],
        "secret": "Bearer ${TOKEN}"
    });
    let automation_id = expect_status(&admin.post("/v1/automations", &body).await, 201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hostile = "\"}],\"x\":\"\n\t\\ ünïcödé 🚀 ${event_type} $${x}";
    let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models", "collection": "churn",
                       "version": "v9", "author": hostile});
    let headers = [("idempotency-key", "post-42")];
    let (status, first) = admin
        .send("POST", "/v1/events", Some(&event), &headers)
        .await;
    assert_eq!(status, 202);
    let (status, second) = admin
        .send("POST", "/v1/events", Some(&event), &headers)
        .await;
    assert_eq!(status, 202);
    assert_eq!(first["event_id"], second["event_id"]);
    assert_eq!(
        (first["duplicate"].clone(), second["duplicate"].clone()),
        (json!(false), json!(true))
    );
    let (_, executions) = admin
        .get(&format!("/v1/automations/{automation_id}/executions"))
        .await;
    assert_eq!(
        executions["executions"].as_array().unwrap().len(),
        1,
        "the retry created no execution"
    );

    let payload = &executions["executions"][0]["payload"];
    assert_eq!(payload["who"], hostile, "exactly the original value");
    assert_eq!(
        payload["what"],
        json!(["default/models/churn:v9", "literal ${event_type}"])
    );
    assert_eq!(
        payload["secret"], "Bearer ${TOKEN}",
        "records show the reference, never the value"
    );
    assert_eq!(payload.as_object().unwrap().len(), 3, "nothing injected");

    // A batch with a key: retried whole, it returns the same ids.
    let batch = json!({"events": [event.clone(), event.clone()]});
    let headers = [("idempotency-key", "batch-1")];
    let (_, one) = admin
        .send("POST", "/v1/events/batch", Some(&batch), &headers)
        .await;
    let (_, two) = admin
        .send("POST", "/v1/events/batch", Some(&batch), &headers)
        .await;
    assert_eq!(one["events"][0]["event_id"], two["events"][0]["event_id"]);
    assert_eq!(one["events"][1]["event_id"], two["events"][1]["event_id"]);
    assert_ne!(one["events"][0]["event_id"], one["events"][1]["event_id"]);
    assert_eq!(one["matched"], 2);
}
