//! The Teams, GitHub dispatch and no-op plugins.

use super::*;

#[tokio::test]
async fn teams_message_cards_and_adaptive_cards() {
    let receiver = service(BTreeMap::from([
        ("/card", vec![reply(200, "1")]),
        ("/reference", vec![reply(200, "1")]),
        (
            "/throttled",
            vec![
                reply(
                    200,
                    "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0",
                ),
                reply(200, "1"),
            ],
        ),
        (
            "/bad",
            vec![reply(200, "Webhook Bad Request - Null or empty event")],
        ),
        ("/gone", vec![reply(410, "connector removed")]),
        ("/workflow", vec![reply(202, "")]),
    ]))
    .await;
    let bench = Bench::new().await;
    let mut executions = BTreeMap::new();
    for case in ["card", "reference", "throttled", "bad", "gone", "workflow"] {
        let secret = format!("TEAMS_{}", case.to_uppercase());
        bench
            .secret(&secret, &receiver.url(&format!("/{case}")))
            .await;
        bench
            .integration(json!({"name": case, "kind": "teams", "url_secret": secret}))
            .await;
        let mut action = json!({"type": "teams", "integration": case, "config": {"title": "Model alert", "severity": "warn"}});
        match case {
            "workflow" => action["config"]["format"] = json!("adaptive"),
            "reference" => {
                action["payload"] = json!({
                    "@type": "MessageCard",
                    "@context": "http://schema.org/extensions",
                    "summary": "New Notification",
                    "sections": [{
                        "activityTitle": "Notification from WANDB",
                        "text": "This is an example message sent via Teams webhook.",
                        "facts": [{"name": "Author", "value": "${event_author}"}, {"name": "Event Type", "value": "${event_type}"}],
                        "markdown": true
                    }]
                })
            }
            _ => {}
        }
        executions.insert(case, bench.run(case, action).await);
    }
    assert_eq!(outcome(&executions["card"]).0, "succeeded");
    let card = by_path(&receiver, "/card")[0].json();
    assert_eq!(
        card,
        json!({
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "summary": "Model alert",
            "themeColor": "FFB900",
            "title": "Model alert",
            "sections": [{
                "activityTitle": "Model alert",
                "facts": [
                    {"name": "Event type", "value": "LINK_ARTIFACT"},
                    {"name": "Author", "value": "ana"},
                    {"name": "Where", "value": "default/models"},
                    {"name": "Version", "value": "default/models/card:v1"},
                    {"name": "Severity", "value": "warn"}
                ],
                "markdown": true
            }]
        })
    );
    let reference = by_path(&receiver, "/reference")[0].json();
    assert_eq!(
        reference["sections"][0]["facts"],
        json!([{"name": "Author", "value": "ana"}, {"name": "Event Type", "value": "LINK_ARTIFACT"}])
    );
    let keys: Vec<&String> = reference.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["@type", "@context", "summary", "sections"],
        "the template's order is kept"
    );

    let throttled = &executions["throttled"];
    assert_eq!(
        status_and_attempts(throttled),
        (Some("succeeded"), Some(2)),
        "{throttled}"
    );
    assert!(
        throttled["attempt_log"][0]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP error 429")
    );
    assert_eq!(
        outcome(&executions["bad"]),
        (
            "failed".into(),
            "rejected: teams: Webhook Bad Request - Null or empty event".into()
        )
    );
    assert_eq!(outcome(&executions["gone"]).0, "failed");

    assert_eq!(outcome(&executions["workflow"]).0, "succeeded");
    let message = by_path(&receiver, "/workflow")[0].json();
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    assert_eq!(attachment["content"]["body"][0]["text"], "Model alert");
    assert_eq!(attachment["content"]["body"][1]["type"], "FactSet");
    assert_eq!(
        attachment["content"]["body"][1]["facts"][3],
        json!({"title": "Version", "value": "default/models/workflow:v1"})
    );
}

#[tokio::test]
async fn github_repository_dispatch() {
    let receiver = service(BTreeMap::from([
        ("/gh/repos/acme/models/dispatches", vec![reply(204, "")]),
        ("/gh-ref/repos/acme/models/dispatches", vec![reply(204, "")]),
        ("/gh-invalid/repos/acme/models/dispatches", vec![reply(422, r#"{"message":"Invalid request.\n\nNo subschema in \"anyOf\" matched.","documentation_url":"https://docs.github.com/rest"}"#)]),
        ("/gh-missing/repos/acme/models/dispatches", vec![reply(404, r#"{"message":"Not Found"}"#)]),
        ("/gh-flaky/repos/acme/models/dispatches", vec![reply(502, "bad gateway"), reply(204, "")]),
        ("/gh-big/repos/acme/models/dispatches", vec![reply(204, "")]),
    ]))
    .await;
    let bench = Bench::new().await;
    bench.secret("GH_TOKEN", "ghp_test-token-123").await;
    let config = json!({"owner": "acme", "repo": "models", "event_type": "BUILD_AND_DEPLOY"});
    let mut executions = BTreeMap::new();
    for case in [
        "gh",
        "gh-ref",
        "gh-invalid",
        "gh-missing",
        "gh-flaky",
        "gh-big",
    ] {
        bench.integration(json!({"name": case, "kind": "github", "url": receiver.url(&format!("/{case}")), "access_token": "GH_TOKEN"})).await;
        let mut action = json!({"type": "github-dispatch", "integration": case, "config": config});
        if case == "gh-ref" {
            // The reference documents' repository-dispatch example, event type included.
            action["payload"] = json!({
                "event_type": "DEPLOY_FROM_TEMPLATE",
                "client_payload": {"event_author": "${event_author}", "artifact_version_string": "${artifact_version_string}"}
            });
        }
        if case == "gh-big" {
            let fields: serde_json::Map<String, Value> = (0..11)
                .map(|i| (format!("k{i}"), json!("${event_type}")))
                .collect();
            action["payload"] = Value::Object(fields);
        }
        executions.insert(case, bench.run(case, action).await);
    }
    assert_eq!(
        outcome(&executions["gh"]).0,
        "succeeded",
        "{}",
        executions["gh"]
    );
    let request = &by_path(&receiver, "/gh/repos/acme/models/dispatches")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("authorization"), "Bearer ghp_test-token-123");
    assert_eq!(request.header("accept"), "application/vnd.github+json");
    assert_eq!(request.header("x-github-api-version"), "2022-11-28");
    assert!(
        request
            .header("user-agent")
            .starts_with("herald-github-dispatch/")
    );
    assert_eq!(
        request.json(),
        json!({"event_type": "BUILD_AND_DEPLOY", "client_payload": {
            "event_author": "ana",
            "artifact_version": "herald-artifact://default/models/gh:v1",
            "artifact_version_string": "default/models/gh:v1",
            "artifact_collection_name": "gh",
            "project_name": "models",
            "entity_name": "default"
        }})
    );
    assert_eq!(
        by_path(&receiver, "/gh-ref/repos/acme/models/dispatches")[0].json(),
        json!({"event_type": "DEPLOY_FROM_TEMPLATE", "client_payload": {"event_author": "ana", "artifact_version_string": "default/models/gh-ref:v1"}})
    );
    let (status, reason) = outcome(&executions["gh-invalid"]);
    assert_eq!(status, "failed");
    assert!(
        reason.starts_with("rejected: github 422: Invalid request."),
        "{reason}"
    );
    assert_eq!(
        outcome(&executions["gh-missing"]),
        ("failed".into(), "rejected: github 404: Not Found".into())
    );
    assert_eq!(
        status_and_attempts(&executions["gh-flaky"]),
        (Some("succeeded"), Some(2))
    );
    let (status, reason) = outcome(&executions["gh-big"]);
    assert_eq!(status, "failed");
    assert!(
        reason.contains("client_payload has 11 top-level keys"),
        "{reason}"
    );
    assert!(
        by_path(&receiver, "/gh-big/repos/acme/models/dispatches").is_empty(),
        "an invalid dispatch is never sent"
    );

    // Knowable at save time: 422 with the plugin's reason.
    let long = "x".repeat(101);
    let automation = json!({"name": "too-long", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
                            "action": {"type": "github-dispatch", "integration": "gh",
                                       "config": {"owner": "acme", "repo": "models", "event_type": long}}});
    let (status, body) = bench.admin.post("/v1/automations", &automation).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/event_type: ")
            && body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is longer than 100 characters"),
        "the host checks the declared schema, naming the path: {body}"
    );
    let mut wrong_kind = automation.clone();
    wrong_kind["name"] = json!("wrong-kind");
    wrong_kind["action"]["config"]["event_type"] = json!("OK");
    bench
        .integration(
            json!({"name": "plain", "kind": "webhook", "url": "https://hooks.example.com/"}),
        )
        .await;
    wrong_kind["action"]["integration"] = json!("plain");
    let (status, body) = bench.admin.post("/v1/automations", &wrong_kind).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sends through github"),
        "{body}"
    );
}

#[tokio::test]
async fn no_op_records_the_payload_and_succeeds() {
    let bench = Bench::new().await;
    let action = json!({"type": "no-op", "payload": {"model": "${artifact_version_string}", "who": "${event_author}"}});
    let execution = bench.run("dry", action).await;
    assert_eq!(outcome(&execution).0, "succeeded", "{execution}");
    let logs = execution["attempt_log"][0]["logs"].to_string();
    assert!(
        logs.contains(r#"{\"model\":\"default/models/dry:v1\",\"who\":\"ana\"}"#),
        "{logs}"
    );
    assert_eq!(
        execution["attempt_log"][0]["requests"],
        json!([]),
        "nothing was sent"
    );
}
