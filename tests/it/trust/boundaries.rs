//! Grants of integrations stored before grants existed, idempotency keys per route, what only the
//! operator sees, the metrics address, filters on fields no event has.

use super::*;

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
    let server = Server::ingest_only();
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
    let server = Server::ingest_only();
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
    let server = Server::ingest_only();
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
