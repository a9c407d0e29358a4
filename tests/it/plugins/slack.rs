//! The Slack plugin: incoming webhooks (default message, templates, error codes, 429) and the Web
//! API with a bot token.

use super::*;

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
