//! The built-in Slack, Teams, GitHub dispatch and no-op plugins end to end: the real server, the
//! real components, and a receiver on 127.0.0.1 emulating each service. The exact request is
//! asserted, and every response class gives the execution outcome the service's semantics call for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Api, Receiver, Recorded, Server, expect_status, status_and_attempts};
use serde_json::{Value, json};

/// A receiver that answers by path: `answers[path]` lists the replies in order (the last one
/// repeats). Requests are kept by path.
async fn service(answers: BTreeMap<&'static str, Vec<crate::common::Reply>>) -> Receiver {
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    Receiver::start(move |_, request| {
        let path = request.uri.path().to_string();
        let n = {
            let mut counts = counts.lock().unwrap();
            let n = counts.entry(path.clone()).or_default();
            *n += 1;
            *n - 1
        };
        match answers.get(path.as_str()) {
            Some(replies) => replies[n.min(replies.len() - 1)].clone(),
            None => (599, vec![], format!("no answer configured for {path}")),
        }
    })
    .await
}

fn by_path(receiver: &Receiver, path: &str) -> Vec<Recorded> {
    receiver
        .requests()
        .into_iter()
        .filter(|r| r.uri.path() == path)
        .collect()
}

struct Bench {
    admin: Api,
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_fast(&dir.path().join("data"));
        Self {
            admin: server.admin(),
            _server: server,
            _dir: dir,
        }
    }

    async fn secret(&self, name: &str, value: &str) {
        crate::common::put_secret(&self.admin, name, value).await;
    }

    async fn integration(&self, body: Value) {
        expect_status(
            &self
                .admin
                .post("/v1/entities/default/integrations", &body)
                .await,
            201,
        );
    }

    /// An automation for LINK_ARTIFACT events of `collection`, then one such event; returns the
    /// settled execution.
    async fn run(&self, collection: &str, action: Value) -> Value {
        let automation = json!({
            "name": collection,
            "scope": {"type": "collection", "registry": "models", "collection": collection},
            "event": {"type": "LINK_ARTIFACT"},
            "action": action,
        });
        expect_status(&self.admin.post("/v1/automations", &automation).await, 201);
        let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                           "collection": collection, "version": "v1", "author": "ana"});
        let event_id = expect_status(&self.admin.post("/v1/events", &event).await, 202)["event_id"]
            .as_str()
            .unwrap()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, event) = self.admin.get(&format!("/v1/events/{event_id}")).await;
            if let Some(id) = event["executions"][0]["id"].as_str() {
                let (_, execution) = self.admin.get(&format!("/v1/executions/{id}")).await;
                if matches!(execution["status"].as_str(), Some("succeeded" | "failed")) {
                    return execution;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{collection} did not settle: {event}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn outcome(execution: &Value) -> (String, String) {
    (
        execution["status"].as_str().unwrap_or_default().to_string(),
        execution["status_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn reply(status: u16, body: &str) -> crate::common::Reply {
    (status, vec![], body.to_string())
}

/// One Slack stand-in for every Slack test: incoming-webhook paths under `/services/` and Web API
/// paths ending in `/chat.postMessage`, each answering as Slack does for one case.
async fn slack_service() -> Receiver {
    let ok = |body: &str| vec![reply(200, body)];
    service(BTreeMap::from([
        ("/services/ok", ok("ok")),
        ("/services/reference", ok("ok")),
        ("/services/invalid", vec![reply(400, "invalid_payload")]),
        ("/services/no-text", vec![reply(400, "no_text")]),
        (
            "/services/no-channel",
            vec![reply(404, "channel_not_found")],
        ),
        (
            "/services/prohibited",
            vec![reply(403, "action_prohibited")],
        ),
        (
            "/services/archived",
            vec![reply(410, "channel_is_archived")],
        ),
        ("/services/no-service", vec![reply(404, "no_service")]),
        (
            "/services/busy",
            vec![
                (
                    429,
                    vec![("retry-after", "1".into())],
                    "rate limited".into(),
                ),
                reply(200, "ok"),
            ],
        ),
        (
            "/api-ok/chat.postMessage",
            ok(r#"{"ok":true,"channel":"C1","ts":"1.2"}"#),
        ),
        (
            "/api-token/chat.postMessage",
            ok(r#"{"ok":false,"error":"invalid_token"}"#),
        ),
        (
            "/api-text/chat.postMessage",
            ok(r#"{"ok":false,"error":"no_text"}"#),
        ),
        (
            "/api-limited/chat.postMessage",
            vec![
                (
                    429,
                    vec![("retry-after", "1".into())],
                    r#"{"ok":false,"error":"ratelimited"}"#.into(),
                ),
                ok(r#"{"ok":true}"#)[0].clone(),
            ],
        ),
    ]))
    .await
}

/// Sends one LINK_ARTIFACT through a Slack incoming-webhook integration whose URL (a credential,
/// kept in a secret) is the receiver's `/services/{case}`.
async fn slack_hook(
    bench: &Bench,
    receiver: &Receiver,
    case: &str,
    payload: Option<Value>,
) -> Value {
    let secret = format!("HOOK_{}", case.replace('-', "_").to_uppercase());
    bench
        .secret(&secret, &receiver.url(&format!("/services/{case}")))
        .await;
    bench
        .integration(json!({"name": format!("hook-{case}"), "kind": "slack", "url_secret": secret}))
        .await;
    let mut action = json!({"type": "slack", "integration": format!("hook-{case}"),
                            "config": {"title": "Model alert", "severity": "error"}});
    if let Some(payload) = payload {
        action["payload"] = payload;
    }
    bench.run(case, action).await
}

#[tokio::test]
async fn slack_incoming_webhook_default_message_and_template_keep_the_url_secret() {
    let receiver = slack_service().await;
    let bench = Bench::new().await;
    let ok = slack_hook(&bench, &receiver, "ok", None).await;
    let (status, _) = outcome(&ok);
    assert_eq!(status, "succeeded", "{ok}");
    let request = &by_path(&receiver, "/services/ok")[0];
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.headers.get("authorization").is_none());
    assert_eq!(
        request.json(),
        json!({
            "text": "[ERROR] Model alert: LINK_ARTIFACT in default/models (default/models/ok:v1)",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Model alert", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Event:* LINK_ARTIFACT\n*Author:* ana\n*Where:* default/models\n*Version:* default/models/ok:v1"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": ":red_circle: Severity: error"}]}
            ]
        })
    );
    let stored = ok["attempt_log"].to_string();
    assert!(
        !stored.contains("/services/ok"),
        "the webhook URL (a credential) reached the record: {stored}"
    );
    assert!(
        stored.contains("https://integration.herald.invalid/"),
        "{stored}"
    );

    // The reference documents' Slack example, as a template: sent as given.
    let reference = json!({
        "text": "New alert from WANDB!",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Registry event: ${event_type}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "New version: ${artifact_version_string}"}},
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Author: ${event_author}"}}
        ]
    });
    slack_hook(&bench, &receiver, "reference", Some(reference)).await;
    assert_eq!(
        by_path(&receiver, "/services/reference")[0].json(),
        json!({"text": "New alert from WANDB!", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Registry event: LINK_ARTIFACT"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "New version: default/models/reference:v1"}},
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Author: ana"}}
        ]}),
        "a custom template is sent as given"
    );
}

#[tokio::test]
async fn slack_incoming_webhook_error_codes_are_classified_and_429_retried() {
    let receiver = slack_service().await;
    let bench = Bench::new().await;
    for (case, expected) in [
        ("invalid", "invalid: slack: invalid_payload"),
        ("no-text", "invalid: slack: no_text"),
        ("no-channel", "rejected: slack: channel_not_found"),
        ("prohibited", "rejected: slack: action_prohibited"),
        ("archived", "rejected: slack: channel_is_archived"),
        ("no-service", "rejected: slack: no_service"),
    ] {
        let execution = slack_hook(&bench, &receiver, case, None).await;
        assert_eq!(
            outcome(&execution),
            ("failed".to_string(), expected.to_string()),
            "{case}"
        );
        assert_eq!(execution["attempts"], 1, "{case} is not retried");
    }
    let busy = slack_hook(&bench, &receiver, "busy", None).await;
    assert_eq!(
        status_and_attempts(&busy),
        (Some("succeeded"), Some(2)),
        "{busy}"
    );
    assert_eq!(busy["attempt_log"][0]["outcome"], "transient");
    assert_eq!(
        by_path(&receiver, "/services/busy").len(),
        2,
        "a 429 is retried once here"
    );
}

#[tokio::test]
async fn slack_web_api_with_a_bot_token_added_by_the_host() {
    let receiver = slack_service().await;
    let bench = Bench::new().await;
    bench.secret("SLACK_BOT", "xoxb-test-bot-token").await;
    let mut bot = BTreeMap::new();
    for case in ["api-ok", "api-token", "api-text", "api-limited"] {
        bench.integration(json!({"name": case, "kind": "slack", "url": receiver.url(&format!("/{case}")), "access_token": "SLACK_BOT"})).await;
        let action = json!({"type": "slack", "integration": case, "config": {"mode": "bot", "channel": "#ml-alerts"}});
        bot.insert(case, bench.run(case, action).await);
    }
    assert_eq!(outcome(&bot["api-ok"]).0, "succeeded", "{}", bot["api-ok"]);
    let request = &by_path(&receiver, "/api-ok/chat.postMessage")[0];
    assert_eq!(
        request.header("authorization"),
        "Bearer xoxb-test-bot-token"
    );
    assert_eq!(
        request.header("content-type"),
        "application/json; charset=utf-8"
    );
    let body = request.json();
    assert_eq!(body["channel"], "#ml-alerts");
    assert_eq!(body["blocks"][0]["text"]["text"], "Herald: LINK_ARTIFACT");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[INFO] Herald: LINK_ARTIFACT"),
        "{body}"
    );
    assert_eq!(
        outcome(&bot["api-token"]),
        ("failed".into(), "rejected: slack: invalid_token".into())
    );
    assert_eq!(
        outcome(&bot["api-text"]),
        ("failed".into(), "invalid: slack: no_text".into())
    );
    assert_eq!(
        status_and_attempts(&bot["api-limited"]),
        (Some("succeeded"), Some(2))
    );
}

#[tokio::test]
async fn slack_bot_mode_without_a_channel_is_refused_at_save() {
    let receiver = slack_service().await;
    let bench = Bench::new().await;
    bench.secret("SLACK_BOT", "xoxb-test-bot-token").await;
    bench.integration(json!({"name": "api-ok", "kind": "slack", "url": receiver.url("/api-ok"), "access_token": "SLACK_BOT"})).await;
    let automation = json!({"name": "bad", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
                            "action": {"type": "slack", "integration": "api-ok", "config": {"mode": "bot"}}});
    let (status, body) = bench.admin.post("/v1/automations", &automation).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("channel is required in bot mode"),
        "{body}"
    );
    let (status, body) = bench
        .admin
        .post("/v1/automations", &json!({"name": "bad", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
              "action": {"type": "slack", "integration": "api-ok", "config": {"mode": "carrier-pigeon"}}}))
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/mode: \"carrier-pigeon\" is not one of \"webhook\" or \"bot\""),
        "the derived schema names the field and the choices: {body}"
    );
}

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
