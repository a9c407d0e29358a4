//! Trust inside one team, through the real binary: a member sends a secret only where an admin
//! granted it, a hostile plugin behind an echoing receiver gets no secret back out, every encoded
//! form of a secret an echo returns is redacted, integrations stored before grants existed are
//! granted exactly what their automations use, and the smaller holes found on the way (batch
//! idempotency keys, plugin sources, `/metrics` on its own address, filter fields no event has).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, FAST_DELIVERY_CONFIG, INGEST_ONLY_CONFIG, Receiver, Recorded, Server,
    create_integration, expect_status, fixture, member, on_postgres, post_event, put_secret,
    settled_all, upload_plugin,
};

/// The base64 characters that `bytes` alone determine when they start `offset` bytes into a
/// longer encoded text (written here independently of the host's redactor).
fn base64_inside(engine: &impl base64::Engine, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![b'.'; offset];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    let start = (8 * offset).div_ceil(6);
    let end = 8 * (offset + bytes.len()) / 6;
    encoded[start..end].to_string()
}

/// Every form of a secret that must not appear where a member (or a plugin) can read it.
fn every_form(secret: &str) -> Vec<String> {
    let escape = |text: &str| {
        let json = serde_json::to_string(text).unwrap();
        json[1..json.len() - 1].to_string()
    };
    let percent: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut forms = vec![
        secret.to_string(),
        escape(secret),
        escape(&escape(secret)),
        percent,
        hex::encode(secret),
        hex::encode_upper(secret),
        secret.chars().rev().collect(),
    ];
    for offset in 0..3 {
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            forms.push(base64_inside(engine, secret.as_bytes(), offset));
        }
    }
    forms
}

#[track_caller]
fn assert_no_secret(what: &str, haystack: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in every_form(secret) {
            assert!(
                !haystack.contains(&form),
                "{what} holds a form of a secret ({form}):\n{}",
                &haystack[..haystack.len().min(4000)]
            );
        }
    }
}

fn link_event() -> Value {
    json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
           "collection": "churn", "version": "v1", "author": "ana"})
}

fn on_links(name: &str, action: Value) -> Value {
    json!({"name": name, "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
           "action": action})
}

#[tokio::test]
async fn a_member_sends_a_secret_only_where_an_admin_granted_it() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let admin = server.admin();
    const GH_TOKEN: &str = "ghp-never-leaves-0a9b8c7d6e5f";
    const FOOTER: &str = "footer-granted-1b2c3d4e5f";
    const HOOK_TOKEN: &str = "hook-own-token-6a7b8c9d0e";
    put_secret(&admin, "GH_TOKEN", GH_TOKEN).await;
    put_secret(&admin, "SLACK_FOOTER", FOOTER).await;
    put_secret(&admin, "HOOK_TOKEN", HOOK_TOKEN).await;
    create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": receiver.url("/hook"),
               "access_token": "HOOK_TOKEN"}),
    )
    .await;
    let member = member(&admin, &server).await;

    // Naming a secret the integration does not grant: refused at the field, naming only that
    // reference, and alike whether or not a secret of that name exists.
    let mut refusals = Vec::new();
    for name in ["GH_TOKEN", "NO_SUCH_SECRET"] {
        let body = on_links(
            "steal",
            json!({"type": "webhook", "integration": "hook", "payload": {"t": format!("${{{name}}}")}}),
        );
        let refused = expect_status(&member.post("/v1/automations", &body).await, 400).clone();
        assert_eq!(refused["error"]["field"], "action.payload", "{refused}");
        let message = refused["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(&format!("${{{name}}}")), "{message}");
        for other in ["SLACK_FOOTER", "HOOK_TOKEN", "GH_TOKEN"]
            .iter()
            .filter(|n| **n != name)
        {
            assert!(!message.contains(other), "names another secret: {message}");
        }
        refusals.push(message.replace(name, "NAME"));
    }
    assert_eq!(
        refusals[0], refusals[1],
        "a refusal tells whether a secret exists"
    );

    // What the integration uses itself may be sent to it; a member's automation that does so is
    // saved. Turning it (or an admin's) to another secret with PATCH is refused the same way.
    let mine = expect_status(
        &member
            .post(
                "/v1/automations",
                &on_links(
                    "mine",
                    json!({"type": "webhook", "integration": "hook",
                           "payload": {"who": "${event_author}", "own": "${HOOK_TOKEN}"}}),
                ),
            )
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admins = expect_status(
        &admin
            .post(
                "/v1/automations",
                &on_links("admins", json!({"type": "webhook", "integration": "hook"})),
            )
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&mine, &admins] {
        let patch = json!({"action": {"type": "webhook", "integration": "hook",
                                      "payload": {"t": "${GH_TOKEN}"}}});
        let refused = member.patch(&format!("/v1/automations/{id}"), &patch).await;
        assert_eq!(
            expect_status(&refused, 400)["error"]["field"],
            "action.payload"
        );
    }
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&admin, &event, Duration::from_secs(20)).await;
    assert_eq!(executions.len(), 2);
    assert!(executions.iter().all(|e| e["status"] == "succeeded"));
    let delivered = receiver.wait_for(2, Duration::from_secs(5)).await;
    for request in &delivered {
        assert_no_secret(
            "a delivery",
            &String::from_utf8_lossy(&request.body),
            &[GH_TOKEN],
        );
    }

    // An admin grants SLACK_FOOTER: members see the grant (names only) and may use it.
    expect_status(
        &member
            .patch(
                "/v1/entities/default/integrations/hook",
                &json!({"secrets": ["SLACK_FOOTER"]}),
            )
            .await,
        403,
    );
    let refused = admin
        .patch(
            "/v1/entities/default/integrations/hook",
            &json!({"secrets": ["NO_SUCH_SECRET"]}),
        )
        .await;
    assert_eq!(expect_status(&refused, 404)["error"]["field"], "secrets[0]");
    expect_status(
        &admin
            .patch(
                "/v1/entities/default/integrations/hook",
                &json!({"secrets": ["SLACK_FOOTER"]}),
            )
            .await,
        200,
    );
    let shown = expect_status(
        &member.get("/v1/entities/default/integrations/hook").await,
        200,
    )
    .clone();
    assert_eq!(shown["secrets"], json!(["SLACK_FOOTER"]));
    assert_no_secret("the integration", &shown.to_string(), &[FOOTER, HOOK_TOKEN]);
    expect_status(
        &member
            .patch(
                &format!("/v1/automations/{mine}"),
                &json!({"action": {"type": "webhook", "integration": "hook",
                                   "payload": {"footer": "${SLACK_FOOTER}"}}}),
            )
            .await,
        200,
    );
    // A grant in use can be neither withdrawn nor its secret deleted.
    let conflict = admin
        .patch(
            "/v1/entities/default/integrations/hook",
            &json!({"secrets": []}),
        )
        .await;
    assert!(
        expect_status(&conflict, 409)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mine"),
        "{}",
        conflict.1
    );
    expect_status(
        &admin
            .delete("/v1/entities/default/secrets/SLACK_FOOTER")
            .await,
        409,
    );
    let event = post_event(&member, &link_event()).await;
    settled_all(&admin, &event, Duration::from_secs(20)).await;
    let delivered = receiver.wait_for(4, Duration::from_secs(5)).await;
    let footers: Vec<Value> = delivered[2..]
        .iter()
        .filter_map(|r| r.json().get("footer").cloned())
        .collect();
    assert_eq!(footers, [json!(FOOTER)], "the granted secret is filled in");
}

/// A receiver that answers with everything it was sent (body and headers), as many do.
fn echo(_: usize, request: &Recorded) -> (u16, Vec<(&'static str, String)>, String) {
    let mut text = String::from_utf8_lossy(&request.body).into_owned();
    for (name, value) in &request.headers {
        text.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or_default()));
    }
    (200, vec![("x-echo-length", text.len().to_string())], text)
}

#[tokio::test]
async fn a_hostile_plugin_gets_no_secret_out_of_an_echoing_receiver() {
    let integration = Receiver::start(echo).await;
    let drop = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{FAST_DELIVERY_CONFIG}[sandbox]\ncpu_time = \"300ms\"\n[plugin_grants]\nhostile = [{:?}]\n",
        drop.url("")
    );
    let server = Server::start_with(
        &dir.path().join("data"),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    let component = std::fs::read(fixture("hostile")).unwrap();
    expect_status(&upload_plugin(&server, ADMIN_KEY, component).await, 201);
    const TOKEN: &str = "tok-launder-9f8e7d6c5b4a";
    const SIGNING: &str = "sig-launder-3c4d5e6f7a8b";
    const PAYLOAD: &str = "pay-launder-é-2b3c4d5e6f";
    put_secret(&admin, "TOKEN", TOKEN).await;
    put_secret(&admin, "SIGNING", SIGNING).await;
    put_secret(&admin, "PAYLOAD", PAYLOAD).await;
    create_integration(
        &admin,
        json!({"name": "echo", "kind": "webhook", "url": integration.url("/echo"),
               "access_token": "TOKEN", "signing_secret": "SIGNING", "secrets": ["PAYLOAD"]}),
    )
    .await;
    let member = member(&admin, &server).await;
    for then in ["succeed", "reject", "trap", "loop"] {
        let action = json!({"type": "hostile", "integration": "echo",
            "config": {"mode": "launder", "url": drop.url("/drop"), "then": then},
            "payload": {"p": "${PAYLOAD}", "t": "${TOKEN}"}});
        expect_status(
            &member
                .post("/v1/automations", &on_links(then, action))
                .await,
            201,
        );
    }
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&member, &event, Duration::from_secs(30)).await;
    assert_eq!(executions.len(), 4);
    let outcome = |name: &str| {
        executions
            .iter()
            .find(|e| e["automation"]["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(outcome("succeed"), "succeeded");
    for failed in ["reject", "trap", "loop"] {
        assert_eq!(outcome(failed), "failed", "{executions:?}");
    }

    // The integration got the secrets: that is what the automation asked for.
    let sent = integration.wait_for(4, Duration::from_secs(5)).await;
    for request in &sent {
        let body = request.json();
        assert_eq!(
            (body["p"].as_str(), body["t"].as_str()),
            (Some(PAYLOAD), Some(TOKEN))
        );
    }
    // Everything a member can read, and everything that reached the plugin's granted origin.
    let mut readable = serde_json::to_string(&executions).unwrap();
    readable.push_str(
        &member
            .get(&format!("/v1/events/{event}"))
            .await
            .1
            .to_string(),
    );
    readable.push_str(&member.get("/v1/executions").await.1.to_string());
    let dropped = drop.wait_for(4, Duration::from_secs(5)).await;
    let mut laundered = String::new();
    for request in &dropped {
        laundered.push_str(&String::from_utf8_lossy(&request.body));
    }
    assert_no_secret("what a member reads", &readable, &[TOKEN, SIGNING, PAYLOAD]);
    assert_no_secret(
        "what the plugin sent away",
        &laundered,
        &[TOKEN, SIGNING, PAYLOAD],
    );
    // Not vacuous: the plugin did get the echo, with the secrets' places marked.
    assert!(laundered.contains("[REDACTED]"), "{laundered}");
    assert!(laundered.contains("webhook-signature"), "{laundered}");
    assert_no_secret("the server log", &server.log(), &[TOKEN, SIGNING, PAYLOAD]);
}

/// Every encoding of what was received that a receiver might answer with.
fn encoded_echo(_: usize, request: &Recorded) -> (u16, Vec<(&'static str, String)>, String) {
    let mut received = String::from_utf8_lossy(&request.body).into_owned();
    received.push_str(&request.header("authorization"));
    let json = serde_json::to_string(&received).unwrap();
    let mut escaped = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            escaped.push(c);
        } else {
            escaped.push_str(&format!("\\u{:04X}", c as u32));
        }
    }
    let mut lines = vec![
        received.clone(),
        json,
        escaped,
        url::form_urlencoded::byte_serialize(received.as_bytes()).collect(),
        hex::encode(&received),
        hex::encode_upper(&received),
    ];
    for prefix in ["", "x", "xy"] {
        let shifted = format!("{prefix}{received}");
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            lines.push(engine.encode(&shifted));
        }
    }
    let header = STANDARD.encode(request.header("authorization"));
    (200, vec![("x-echo-auth", header)], lines.join("\n"))
}

#[tokio::test]
async fn every_encoded_form_an_echo_returns_is_redacted_for_members_and_in_tests() {
    let receiver = Receiver::start(encoded_echo).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let admin = server.admin();
    const TOKEN: &str = "tok-encoded-5e6f7a8b9c0d";
    const PAYLOAD: &str = "pay-encoded-ünï-\"quoted\"-7c8d";
    put_secret(&admin, "TOKEN", TOKEN).await;
    put_secret(&admin, "PAYLOAD", PAYLOAD).await;
    create_integration(
        &admin,
        json!({"name": "echo", "kind": "webhook", "url": receiver.url("/echo"),
               "access_token": "TOKEN", "secrets": ["PAYLOAD"]}),
    )
    .await;
    let member = member(&admin, &server).await;
    expect_status(
        &member
            .post(
                "/v1/automations",
                &on_links(
                    "echoed",
                    json!({"type": "webhook", "integration": "echo", "payload": {"p": "${PAYLOAD}"}}),
                ),
            )
            .await,
        201,
    );
    let event = post_event(&member, &link_event()).await;
    let executions = settled_all(&member, &event, Duration::from_secs(20)).await;
    assert_eq!(executions[0]["status"], "succeeded", "{executions:?}");
    let response = &executions[0]["attempt_log"][0]["requests"][0]["response"];
    let body = response["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"));
    // Not vacuous: the echo came back whole, each of its 18 lines with the values marked.
    assert_eq!(body.lines().count(), 18, "{body}");
    assert!(body.lines().all(|l| l.contains("[REDACTED]")), "{body}");
    assert_no_secret(
        "an execution a member reads",
        &serde_json::to_string(&executions).unwrap(),
        &[TOKEN, PAYLOAD],
    );
    // The admin's Test shows the receiver's answer under the same redaction.
    let tested = expect_status(
        &admin
            .post(
                "/v1/entities/default/integrations/echo/test",
                &json!({"payload": {"p": "${PAYLOAD}"}}),
            )
            .await,
        200,
    )
    .clone();
    assert_eq!(tested["response"]["status"], 200, "{tested}");
    assert_no_secret("the Test answer", &tested.to_string(), &[TOKEN, PAYLOAD]);
    // A test may name only what a delivery through the integration could.
    put_secret(&admin, "ELSEWHERE", "elsewhere-value-1234").await;
    let refused = admin
        .post(
            "/v1/entities/default/integrations/echo/test",
            &json!({"payload": {"x": "${ELSEWHERE}"}}),
        )
        .await;
    assert_eq!(expect_status(&refused, 400)["error"]["field"], "payload");
}

/// Takes a database back to what it is right after the grants migration (`0006` on SQLite,
/// `0003` on PostgreSQL) ran on a database of the previous release: the column is there and no
/// integration has granted anything yet, not even an empty list.
async fn forget_grants(data_dir: &std::path::Path) {
    const UNGRANT: &str = "UPDATE integrations SET granted_secrets = NULL";
    if on_postgres() {
        let url = std::fs::read_to_string(data_dir.join("test-database-url")).unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        client.batch_execute(UNGRANT).await.unwrap();
        drop(client);
        let _ = task.await;
    } else {
        let db = rusqlite::Connection::open(data_dir.join("herald.db")).unwrap();
        db.execute_batch(UNGRANT).unwrap();
    }
}

#[tokio::test]
async fn integrations_stored_before_grants_are_granted_what_their_automations_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)];
    let server = Server::start_with(&data, INGEST_ONLY_CONFIG, &env, &[]);
    let admin = server.admin();
    for name in ["A", "B", "C", "TOKEN", "UNUSED"] {
        put_secret(&admin, name, &format!("value-of-{name}-0123")).await;
    }
    create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": "https://hook.example.com/",
               "access_token": "TOKEN", "secrets": ["A", "B", "UNUSED"]}),
    )
    .await;
    create_integration(
        &admin,
        json!({"name": "other", "kind": "webhook", "url": "https://other.example.com/",
               "secrets": ["C"]}),
    )
    .await;
    create_integration(
        &admin,
        json!({"name": "idle", "kind": "webhook", "url": "https://idle.example.com/",
               "secrets": ["A"]}),
    )
    .await;
    for (name, integration, payload) in [
        ("uses-a", "hook", json!({"a": "${A}", "t": "${TOKEN}"})),
        (
            "uses-b",
            "hook",
            json!({"b": ["x ${B} y"], "who": "${event_author}"}),
        ),
        ("uses-c", "other", json!({"c": "${C}"})),
        ("uses-none", "other", Value::Null),
    ] {
        let mut action = json!({"type": "webhook", "integration": integration});
        if !payload.is_null() {
            action["payload"] = payload;
        }
        expect_status(
            &admin.post("/v1/automations", &on_links(name, action)).await,
            201,
        );
    }
    server.kill();
    forget_grants(&data).await;

    let server = Server::start_with(&data, INGEST_ONLY_CONFIG, &env, &[]);
    let admin = server.admin();
    let listed = expect_status(&admin.get("/v1/entities/default/integrations").await, 200).clone();
    let grants: Vec<(String, Value)> = listed["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["secrets"].clone(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("hook".to_string(), json!(["A", "B"])),
            ("idle".to_string(), json!([])),
            ("other".to_string(), json!(["C"])),
        ],
        "exactly what the automations reference, the integration's own token aside"
    );
    let log = server.log();
    assert!(
        log.contains("granted the integration the secrets its automations reference"),
        "{log}"
    );
    assert!(log.contains("A, B"), "{log}");
    // The grants are what they are now: a later start leaves them, even once changed.
    expect_status(
        &admin
            .patch(
                "/v1/entities/default/integrations/idle",
                &json!({"secrets": ["UNUSED"]}),
            )
            .await,
        200,
    );
    server.kill();
    let server = Server::start_with(&data, INGEST_ONLY_CONFIG, &env, &[]);
    let idle = server
        .admin()
        .get("/v1/entities/default/integrations/idle")
        .await;
    assert_eq!(expect_status(&idle, 200)["secrets"], json!(["UNUSED"]));
}

#[tokio::test]
async fn a_batch_key_and_a_single_posts_key_never_meet() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    let event = link_event();
    let (_, single) = admin
        .send(
            "POST",
            "/v1/events",
            Some(&event),
            &[("idempotency-key", "K#0")],
        )
        .await;
    let batch = json!({"events": [event.clone()]});
    let (_, batched) = admin
        .send(
            "POST",
            "/v1/events/batch",
            Some(&batch),
            &[("idempotency-key", "K")],
        )
        .await;
    assert_ne!(single["event_id"], batched["events"][0]["event_id"]);
    assert_eq!(batched["events"][0]["duplicate"], false);
    let (_, again) = admin
        .send(
            "POST",
            "/v1/events/batch",
            Some(&batch),
            &[("idempotency-key", "K")],
        )
        .await;
    assert_eq!(
        again["events"][0]["event_id"],
        batched["events"][0]["event_id"]
    );
}

#[tokio::test]
async fn only_the_operator_sees_where_a_plugin_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    let component = std::fs::read(fixture("echo-v1")).unwrap();
    expect_status(&upload_plugin(&server, ADMIN_KEY, component).await, 201);
    let member = member(&admin, &server).await;
    let listed = expect_status(&member.get("/v1/plugins").await, 200).clone();
    for plugin in listed["plugins"].as_array().unwrap() {
        assert!(plugin.get("source").is_none(), "{plugin}");
        assert!(plugin["builtin"].is_boolean(), "{plugin}");
    }
    let listed = expect_status(&admin.get("/v1/plugins").await, 200).clone();
    let echo = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["builtin"] == false)
        .unwrap();
    assert!(
        echo["source"].as_str().unwrap().ends_with(".wasm"),
        "{echo}"
    );
}

#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("metrics_listen = \"127.0.0.1:0\"\n{INGEST_ONLY_CONFIG}");
    let server = Server::start_with(
        &dir.path().join("data"),
        &config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let metrics_url = server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("herald metrics on "))
        .expect("the metrics address is printed")
        .to_string();
    let on_api = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404);
    let own = reqwest::get(&metrics_url).await.unwrap();
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("herald_"));
}

#[tokio::test]
async fn a_filter_on_a_field_no_event_has_is_refused_at_save() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": "https://hook.example.com/"}),
    )
    .await;
    let with_filter = |filter: Value| {
        json!({"name": "f", "scope": {"type": "entity"},
               "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": filter},
               "action": {"type": "webhook", "integration": "hook"}})
    };
    for filter in [
        json!({"aliass": {"$regex": "^prod"}}),
        json!({"$or": [{"alias": "prod"}, {"colection": "churn"}]}),
        json!({"alias.name": "prod"}),
    ] {
        let refused = admin
            .post("/v1/automations", &with_filter(filter.clone()))
            .await;
        let body = expect_status(&refused, 400);
        assert_eq!(body["error"]["field"], "event.filter", "{filter}: {body}");
    }
    expect_status(
        &admin
            .post(
                "/v1/automations",
                &with_filter(json!({"alias": "prod", "metadata.accuracy": {"$gte": 0.9}})),
            )
            .await,
        201,
    );
}
