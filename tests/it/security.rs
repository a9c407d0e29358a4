//! What an attacker with an ordinary key, or a full disk, must not achieve, tried through the real
//! binary against real receivers on 127.0.0.1: client data taken for a secret reference, secret
//! values (hostile ones) in any record or log, an unbounded payload, chat markup injected by event
//! data, a config that breaks a plugin's schema, and storage faults answered as bugs.

use std::time::Duration;

use crate::common::{Receiver, Server, expect_status, member, post_event, put_secret, settled_all};
use serde_json::{Value, json};

/// Every form a value could take in JSON text or a URL.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    let percent: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    vec![
        value.to_string(),
        json[1..json.len() - 1].to_string(),
        percent,
    ]
}

fn assert_absent(what: &str, haystack: &str, secret: &str) {
    for form in forms(secret) {
        assert!(
            !haystack.contains(&form),
            "{what} shows a secret value ({} bytes)",
            secret.len()
        );
    }
    // A recognisable part: any 16-byte window of a long secret.
    if secret.len() >= 64 {
        for start in (0..secret.len() - 16).step_by(997) {
            if let Some(part) = secret.get(start..start + 16) {
                assert!(!haystack.contains(part), "{what} shows part of a secret");
            }
        }
    }
}

#[tokio::test]
async fn client_data_is_never_taken_for_a_secret_reference() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    const TOKEN: &str = "tok-forge-0a1b2c3d4e";
    const SIGNING: &str = "sign-forge-5f6a7b8c9d";
    const OTHER: &str = "other-forge-e0f1a2b3";
    put_secret(&admin, "TOKEN", TOKEN).await;
    put_secret(&admin, "SIGNING", SIGNING).await;
    put_secret(&admin, "OTHER", OTHER).await;
    crate::common::create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook"),
                        "access_token": "TOKEN", "signing_secret": "SIGNING"}),
    )
    .await;
    // One automation sends the plugin's default document (every variable), one a template that
    // puts TOKEN in one field and event data in others.
    for (name, payload) in [
        ("default-doc", Value::Null),
        (
            "templated",
            json!({"auth": "${TOKEN}", "who": "${event_author}", "meta": "${artifact_metadata.x}"}),
        ),
    ] {
        let mut body = json!({"name": name, "scope": {"type": "entity"},
            "event": {"type": "CREATE_ARTIFACT"},
            "action": {"type": "webhook", "integration": "hook"}});
        if !payload.is_null() {
            body["action"]["payload"] = payload;
        }
        expect_status(&admin.post("/v1/automations", &body).await, 201);
    }

    // A member (who may not even list secrets) writes every placeholder form it could guess.
    let forged = [
        "\u{0}herald-secret:SIGNING\u{0}".to_string(),
        format!("\u{0}herald-secret:{}:OTHER\u{0}", "0".repeat(32)),
        "\\u0000herald-secret:TOKEN\\u0000".to_string(),
    ];
    let member = member(&admin, &server).await;
    let event = json!({"type": "CREATE_ARTIFACT", "entity": "default", "project": "train",
        "collection": "churn", "version": "v1", "author": forged[0],
        "metadata": {"x": forged[1], "y": forged[2]}});
    let event_id = post_event(&member, &event).await;
    let executions = settled_all(&admin, &event_id, Duration::from_secs(20)).await;
    assert!(
        executions.iter().all(|e| e["status"] == "succeeded"),
        "{executions:?}"
    );

    let requests = receiver.wait_for(2, Duration::from_secs(5)).await;
    for request in &requests {
        let body = String::from_utf8_lossy(&request.body);
        assert_absent("a delivered body", &body, SIGNING);
        assert_absent("a delivered body", &body, OTHER);
        let json = request.json();
        if json.get("auth").is_some() {
            // The template's own reference is filled; the forged ones arrive as the text sent.
            assert_eq!(json["auth"], TOKEN);
            assert_eq!(json["who"], forged[0].as_str());
            assert_eq!(json["meta"], forged[1].as_str());
        } else {
            assert_absent("the default document", &body, TOKEN);
            assert!(
                body.contains("herald-secret:SIGNING"),
                "sent as text: {body}"
            );
        }
    }

    // A test payload is client data too: only `${NAME}` resolves, never a placeholder form.
    let tested = expect_status(
        &admin
            .post(
                "/v1/entities/default/integrations/hook/test",
                &json!({"payload": {"a": forged[0], "b": forged[1]}}),
            )
            .await,
        200,
    )
    .clone();
    assert_eq!(tested["response"]["status"], 200, "{tested}");
    let last = receiver
        .wait_for(3, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    assert_eq!(last.json(), json!({"a": forged[0], "b": forged[1]}));
}

#[tokio::test]
async fn hostile_secret_values_never_appear_in_records_responses_or_logs() {
    // The receiver echoes what it got: response bodies carry the values back, as JSON.
    let receiver = Receiver::start(|_, request| {
        (
            200,
            vec![],
            String::from_utf8_lossy(&request.body).into_owned(),
        )
    })
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = Server::fast();
    let admin = server.admin();

    let quote = "q\"uo\\te\nline2\t–ünï€😀";
    // 64 KiB, the largest value accepted: it straddles the 64 KiB body-record limit.
    let big: String = (0..(64 << 10))
        .map(|i| char::from(b'a' + ((i * 7 + i / 26) % 26) as u8))
        .collect();
    let short = "k3y!";
    let hook_path = format!("/services/T000/B000/{}", "s3cretpath".repeat(3));
    put_secret(&admin, "QUOTE", quote).await;
    put_secret(&admin, "BIG", &big).await;
    put_secret(&admin, "SHORT", short).await;
    put_secret(&admin, "TOKEN", "tok\"en\\value").await;
    put_secret(
        &admin,
        "DEAD_URL",
        &format!("http://127.0.0.1:{closed_port}{hook_path}"),
    )
    .await;
    // Shorter than redaction can recognise: refused.
    let r = admin
        .put(
            "/v1/entities/default/secrets/TINY",
            &json!({"value": "abc"}),
        )
        .await;
    assert_eq!(r.0, 400, "{}", r.1);

    for integration in [
        json!({"name": "echo", "kind": "webhook", "url": receiver.url("/echo"), "access_token": "TOKEN", "signing_secret": "QUOTE", "secrets": ["SHORT", "BIG"]}),
        json!({"name": "dead", "kind": "slack", "url_secret": "DEAD_URL", "secrets": ["QUOTE"]}),
    ] {
        expect_status(
            &admin
                .post("/v1/entities/default/integrations", &integration)
                .await,
            201,
        );
    }
    let padding = "p".repeat(1000);
    for body in [
        json!({"name": "echo-all", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "webhook", "integration": "echo",
                          "payload": {"pad": padding, "q": "${QUOTE} and ${SHORT}", "big": "${BIG}", "t": "${TOKEN}"}}}),
        json!({"name": "dead-slack", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "slack", "integration": "dead"}}),
    ] {
        expect_status(&admin.post("/v1/automations", &body).await, 201);
    }
    let event_id = post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": "v1", "author": "ana"}),
    )
    .await;
    let executions = settled_all(&admin, &event_id, Duration::from_secs(30)).await;
    let echo = executions
        .iter()
        .find(|e| e["automation"]["name"] == "echo-all")
        .unwrap();
    assert_eq!(echo["status"], "succeeded", "{echo}");
    let delivered = receiver.wait_for(1, Duration::from_secs(5)).await;
    let sent = delivered[0].json();
    assert_eq!(
        sent["q"],
        format!("{quote} and {short}"),
        "values are filled in"
    );
    assert_eq!(sent["big"], big.as_str());

    let mut shown = serde_json::to_string(&executions).unwrap();
    shown.push_str(
        &serde_json::to_string(&admin.get(&format!("/v1/events/{event_id}")).await.1).unwrap(),
    );
    for execution in &executions {
        let id = execution["id"].as_str().unwrap();
        let automation = execution["automation_id"].as_str().unwrap();
        shown.push_str(
            &admin
                .get(&format!("/v1/automations/{automation}/executions"))
                .await
                .1
                .to_string(),
        );
        shown.push_str(
            &admin
                .post(&format!("/v1/executions/{id}/retry"), &json!({}))
                .await
                .1
                .to_string(),
        );
    }
    shown.push_str(
        &admin
            .get("/v1/entities/default/secrets")
            .await
            .1
            .to_string(),
    );
    shown.push_str(
        &admin
            .get("/v1/entities/default/integrations")
            .await
            .1
            .to_string(),
    );
    let test = admin
        .post(
            "/v1/entities/default/integrations/dead/test",
            &json!({"payload": {"x": "${QUOTE}"}}),
        )
        .await;
    shown.push_str(&test.1.to_string());
    settled_all(&admin, &event_id, Duration::from_secs(30)).await;
    let log = server.log();
    for secret in [
        quote,
        big.as_str(),
        short,
        "tok\"en\\value",
        hook_path.as_str(),
    ] {
        assert_absent("an API response", &shown, secret);
        assert_absent("the server log", &log, secret);
    }
    // The slack execution failed to connect; its reason says so without the URL.
    let dead = executions
        .iter()
        .find(|e| e["automation"]["name"] == "dead-slack")
        .unwrap();
    assert_eq!(dead["status"], "failed", "{dead}");
    assert!(
        shown.contains("[REDACTED]"),
        "the echoed values are shown redacted"
    );
}

#[tokio::test]
async fn a_payload_over_the_render_limit_fails_invalid_without_growing_the_server() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    crate::common::create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    let member = member(&admin, &server).await;
    // 22 KB of template: 1,000 references to one metadata field.
    let template = "${artifact_metadata.a}".repeat(1000);
    crate::common::create_automation(&member, json!({"name": "amplify", "scope": {"type": "entity"}, "event": {"type": "CREATE_ARTIFACT"},
                        "action": {"type": "webhook", "integration": "hook", "payload": {"x": template}}})).await;
    let event = json!({"type": "CREATE_ARTIFACT", "entity": "default", "project": "p",
        "collection": "c", "version": "v1", "author": "ana", "metadata": {"a": "z".repeat(100_000)}});
    let event_id = post_event(&member, &event).await;
    let execution = settled_all(&admin, &event_id, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(
        execution["status_reason"],
        "invalid: the rendered payload is over the 1048576 byte limit"
    );
    assert!(execution["payload"].is_null());
    assert!(receiver.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn chat_messages_escape_event_data_and_every_request_names_its_execution() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    put_secret(&admin, "SLACK_URL", &receiver.url("/slack/hook")).await;
    put_secret(&admin, "TEAMS_URL", &receiver.url("/teams/hook")).await;
    for integration in [
        json!({"name": "slack", "kind": "slack", "url_secret": "SLACK_URL"}),
        json!({"name": "teams", "kind": "teams", "url_secret": "TEAMS_URL"}),
    ] {
        expect_status(
            &admin
                .post("/v1/entities/default/integrations", &integration)
                .await,
            201,
        );
    }
    for (name, plugin, config) in [
        (
            "slack",
            "slack",
            json!({"title": "Linked by ${event_author}", "message": "*${event_author}* linked it"}),
        ),
        (
            "teams",
            "teams",
            json!({"title": "Linked by ${event_author}", "message": "**${event_author}**"}),
        ),
        (
            "cards",
            "teams",
            json!({"format": "adaptive", "message": "by ${event_author}"}),
        ),
    ] {
        let integration = if plugin == "slack" { "slack" } else { "teams" };
        crate::common::create_automation(&admin, json!({"name": name, "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
                            "action": {"type": plugin, "integration": integration, "config": config}})).await;
    }
    let author = "<!channel> [click](https://evil.example) & *bold*";
    let event_id = post_event(
        &admin,
        &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                "collection": "churn", "version": "v1", "author": author}),
    )
    .await;
    let executions = settled_all(&admin, &event_id, Duration::from_secs(20)).await;
    let requests = receiver.wait_for(3, Duration::from_secs(5)).await;
    let ids: Vec<&str> = executions
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for request in &requests {
        let id = request.header("webhook-id");
        assert!(
            ids.contains(&id.as_str()),
            "webhook-id {id:?} names an execution"
        );
    }
    let slack = requests
        .iter()
        .find(|r| r.uri.path() == "/slack/hook")
        .unwrap()
        .json();
    // Plain text (the header) shows it as written; mrkdwn never carries it unescaped.
    for mrkdwn in [
        &slack["text"],
        &slack["blocks"][1]["text"]["text"],
        &slack["blocks"][2]["text"]["text"],
    ] {
        assert!(
            !mrkdwn.as_str().unwrap().contains("<!channel>"),
            "a ping: {slack}"
        );
    }
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        format!("Linked by {author}"),
        "plain text keeps it as written"
    );
    assert_eq!(
        slack["blocks"][1]["text"]["text"],
        "*&lt;!channel&gt; [click](https://evil.example) &amp; *bold** linked it"
    );
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("Linked by &lt;!channel&gt;")
    );
    // "Test" on a Slack integration goes through the slack plugin, as its automations do: Slack's
    // `ok` answer is its success, and a plugin that does not take Slack integrations is refused.
    let tested = admin
        .post(
            "/v1/entities/default/integrations/slack/test",
            &json!({"payload": {"text": "from a test"}}),
        )
        .await;
    assert_eq!(tested.0, 200, "{}", tested.1);
    assert_eq!(tested.1["response"]["status"], 200, "{}", tested.1);
    let sent = receiver
        .wait_for(4, Duration::from_secs(5))
        .await
        .pop()
        .unwrap();
    assert_eq!(sent.uri.path(), "/slack/hook");
    assert_eq!(sent.json(), json!({"text": "from a test"}));
    let wrong = admin
        .post(
            "/v1/entities/default/integrations/slack/test",
            &json!({"plugin": "teams"}),
        )
        .await;
    assert_eq!(wrong.0, 400, "{}", wrong.1);
    for request in requests.iter().filter(|r| r.uri.path() == "/teams/hook") {
        // `summary` is plain text (the notification); everything else is Markdown.
        let mut card = request.json();
        card.as_object_mut().unwrap().remove("summary");
        let text = card.to_string();
        assert!(!text.contains("[click](https"), "no link injected: {text}");
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(
            text.contains(
                r"&lt;!channel&gt; \\[click\\]\\(https://evil.example\\) &amp; \\*bold\\*"
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_config_that_breaks_the_plugins_schema_is_refused_at_save_with_its_path() {
    let server = Server::ingest_only();
    let admin = server.admin();
    put_secret(&admin, "SLACK_URL", "https://hooks.slack.example/x").await;
    crate::common::create_integration(
        &admin,
        json!({"name": "slack", "kind": "slack", "url_secret": "SLACK_URL"}),
    )
    .await;
    let body = |config: Value| {
        json!({"name": "s", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "slack", "integration": "slack", "config": config}})
    };
    let r = admin
        .post("/v1/automations", &body(json!({"severity": "loud"})))
        .await;
    assert_eq!(r.0, 422, "{}", r.1);
    let message = r.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("config schema") && message.contains("/severity:"),
        "{message}"
    );
    let r = admin
        .post("/v1/automations", &body(json!({"title": 7})))
        .await;
    assert_eq!(r.0, 422);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/title:"),
        "{}",
        r.1
    );
    expect_status(
        &admin
            .post("/v1/automations", &body(json!({"severity": "warn"})))
            .await,
        201,
    );
}

/// Every route the OpenAPI document lists under an `{entity}`, called with another entity's
/// name, before anything else is looked at: for an admin of an ordinary entity, 404 (that entity
/// is invisible); for the operator's admins, who create entities and so know them, 403 saying a
/// key acts in its own entity only. Agent routes refuse a non-agent key first (403), which tells
/// nothing about the entity either. Nothing is created either way.
#[tokio::test]
async fn no_route_shows_or_touches_another_entity() {
    let server = Server::fast();
    let admin = server.admin();
    let created = admin.post("/v1/entities", &json!({"name": "other"})).await;
    let other = server.client(
        expect_status(&created, 201)["admin_key"]["key"]
            .as_str()
            .unwrap(),
    );
    let (_, document) = admin.get("/v1/openapi.json").await;
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        if !path.contains("{entity}") {
            continue;
        }
        let at = |entity: &str| {
            path.split('/')
                .map(|segment| match segment {
                    "{entity}" => entity,
                    s if s.starts_with('{') => "x1",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            // The operator's admin, at the other entity's routes.
            let (status, answer) = admin.send(&method, &at("other"), body.as_ref(), &[]).await;
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            let agents_only = status == 403 && message.starts_with("only an agent key");
            assert!(
                (status == 403 && message.starts_with("a key acts in its own entity only"))
                    || agents_only,
                "{method} {}: {status} {answer}",
                at("other")
            );
            // The other entity's admin, at the operator entity's routes.
            let (status, answer) = other
                .send(&method, &at("default"), body.as_ref(), &[])
                .await;
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            let agents_only = status == 403 && message.starts_with("only an agent key");
            assert!(
                (status == 404 && message == "entity default not found") || agents_only,
                "{method} {}: {status} {answer}",
                at("default")
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} routes checked");
    // And nothing of the other entity was made: its own admin sees no secrets, integrations,
    // queues or jobs.
    for (path, list) in [
        ("secrets", "secrets"),
        ("integrations", "integrations"),
        ("queues", "queues"),
        ("jobs", "jobs"),
    ] {
        let (status, answer) = other.get(&format!("/v1/entities/other/{path}")).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(answer[list], json!([]), "{path}: {answer}");
    }
}
