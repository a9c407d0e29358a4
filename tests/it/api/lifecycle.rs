//! What lasts: a restart keeps everything and leaks no secret, the first start prints its admin
//! key once, and the OpenAPI document describes every route.

use serde_json::{Value, json};

use super::*;
use crate::common::{Server, expect_status};

#[tokio::test]
async fn restart_keeps_everything_and_no_secret_ever_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_ingest_only(&data);
    let admin = server.admin();
    let mut seen = String::new();
    let mut record = |response: (u16, Value)| {
        seen.push_str(&response.1.to_string());
        response
    };
    expect_status(
        &record(
            admin
                .put(
                    "/v1/entities/default/secrets/TOKEN",
                    &json!({"value": SECRET_VALUE}),
                )
                .await,
        ),
        201,
    );
    expect_status(
        &record(
            admin
                .put(
                    "/v1/entities/default/secrets/TOKEN",
                    &json!({"value": SECRET_VALUE}),
                )
                .await,
        ),
        200,
    );
    expect_status(
        &record(
            admin
                .post(
                    "/v1/entities/default/integrations",
                    &json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/", "access_token": "TOKEN", "signing_secret": "TOKEN"}),
                )
                .await,
        ),
        201,
    );
    let mut body = automation(
        "keep",
        json!({"type": "entity"}),
        json!({"type": "RUN_STATE"}),
    );
    body["action"]["payload"] = json!({"token": "${TOKEN}"});
    let automation_id =
        expect_status(&record(admin.post("/v1/automations", &body).await), 201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    let event = json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r", "state": "FAILED"});
    let event_id = expect_status(&record(admin.post("/v1/events", &event).await), 202)["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    server.kill();

    let server = Server::start_ingest_only(&data);
    assert!(
        server.banner.is_empty(),
        "no second bootstrap: {:?}",
        server.banner
    );
    let admin = server.admin();
    let mut seen_after = String::new();
    for path in [
        "/v1/entities/default/secrets".to_string(),
        "/v1/entities/default/integrations/ci".into(),
        format!("/v1/automations/{automation_id}"),
        format!("/v1/events/{event_id}"),
        format!("/v1/automations/{automation_id}/executions"),
        "/v1/automations".into(),
    ] {
        let (status, body) = admin.get(&path).await;
        assert_eq!(status, 200, "{path} after restart: {body}");
        seen_after.push_str(&body.to_string());
    }
    assert!(
        seen_after.contains("\"TOKEN\"") && seen_after.contains(&event_id),
        "{seen_after}"
    );
    let fired = expect_status(&admin.post("/v1/events", &event).await, 202).clone();
    assert_eq!(fired["matched"], 1, "the index was rebuilt from the store");

    assert!(
        !seen.contains(SECRET_VALUE) && !seen_after.contains(SECRET_VALUE),
        "an API response carried the secret"
    );
    assert!(
        !server.log().contains(SECRET_VALUE),
        "the log carried the secret"
    );
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes
                    .windows(SECRET_VALUE.len())
                    .any(|w| w == SECRET_VALUE.as_bytes()),
                "{} holds the secret in plaintext",
                entry.path().display()
            );
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the generated master key is readable only by its owner"
        );
    }
}

#[tokio::test]
async fn first_start_prints_a_generated_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, crate::common::INGEST_ONLY_CONFIG, &[], &[]);
    let line = server.banner.join("\n");
    let key = line.split_whitespace().last().unwrap().to_string();
    assert!(
        line.contains("bootstrap admin key for entity `default`") && key.starts_with("hk_"),
        "{line}"
    );
    expect_status(
        &server.client(&key).get("/v1/entities/default/keys").await,
        200,
    );
    server.kill();
    let server = Server::start_with(&data, crate::common::INGEST_ONLY_CONFIG, &[], &[]);
    assert!(
        server.banner.is_empty(),
        "printed again: {:?}",
        server.banner
    );
    expect_status(&server.client(&key).get("/v1/plugins").await, 200);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = Server::ingest_only();
    let (status, document) = server.anonymous().get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    let routes = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("post", "/v1/executions/{id}/retry"),
        ("post", "/v1/entities/{entity}/integrations/{name}/test"),
        ("post", "/v1/entities/{entity}/integrations/{name}/disable"),
        ("post", "/v1/entities/{entity}/integrations/{name}/enable"),
        ("post", "/v1/entities/{entity}/integrations/{name}/recover"),
        ("post", "/v1/executions/retry"),
        ("get", "/v1/tasks"),
        ("get", "/v1/tasks/{id}"),
        ("get", "/v1/entities/{entity}/audit"),
        ("get", "/v1/events"),
        ("get", "/v1/plugins"),
        ("post", "/v1/plugins"),
        ("delete", "/v1/plugins/{name}"),
        ("get", "/v1/me"),
        ("post", "/v1/entities"),
        ("get", "/v1/entities/{entity}/keys"),
        ("post", "/v1/entities/{entity}/keys"),
        ("delete", "/v1/entities/{entity}/keys/{id}"),
        ("get", "/v1/entities/{entity}/secrets"),
        ("put", "/v1/entities/{entity}/secrets/{name}"),
        ("delete", "/v1/entities/{entity}/secrets/{name}"),
        ("post", "/v1/entities/{entity}/secrets/{name}/rotate"),
        ("get", "/v1/entities/{entity}/integrations"),
        ("post", "/v1/entities/{entity}/integrations"),
        ("get", "/v1/entities/{entity}/integrations/{name}"),
        ("patch", "/v1/entities/{entity}/integrations/{name}"),
        ("delete", "/v1/entities/{entity}/integrations/{name}"),
        ("get", "/v1/automations"),
        ("post", "/v1/automations"),
        ("get", "/v1/automations/{id}"),
        ("patch", "/v1/automations/{id}"),
        ("delete", "/v1/automations/{id}"),
        ("get", "/v1/automations/{id}/executions"),
        ("post", "/v1/events"),
        ("post", "/v1/events/batch"),
        ("get", "/v1/events/{id}"),
        ("get", "/v1/events/{id}/explanation"),
        ("get", "/v1/places"),
        ("get", "/v1/executions/{id}"),
        ("get", "/v1/executions"),
        ("get", "/v1/triggers"),
        (
            "post",
            "/v1/entities/{entity}/projects/{project}/runs/{run_id}/heartbeat",
        ),
        ("get", "/v1/entities/{entity}/jobs"),
        ("put", "/v1/entities/{entity}/jobs/{name}"),
        ("get", "/v1/entities/{entity}/jobs/{name}"),
        ("get", "/v1/entities/{entity}/jobs/{name}/versions"),
        ("get", "/v1/entities/{entity}/queues"),
        ("post", "/v1/entities/{entity}/queues"),
        ("get", "/v1/entities/{entity}/queues/{queue}/items"),
        ("post", "/v1/entities/{entity}/queues/{queue}/items"),
        ("post", "/v1/entities/{entity}/queues/{queue}/claim"),
        ("get", "/v1/entities/{entity}/agents"),
        ("get", "/v1/entities/{entity}/items/{id}"),
        ("post", "/v1/entities/{entity}/items/{id}/cancel"),
        ("post", "/v1/entities/{entity}/items/{id}/heartbeat"),
        ("post", "/v1/entities/{entity}/items/{id}/output"),
        ("get", "/v1/entities/{entity}/items/{id}/output"),
        ("post", "/v1/entities/{entity}/items/{id}/finish"),
    ];
    let paths = document["paths"].as_object().unwrap();
    for (method, path) in routes {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        routes.len(),
        "the document has routes this test does not know: {:?}",
        paths.keys()
    );
    // Bodies are described by schema, not left opaque.
    let schemas = &document["components"]["schemas"];
    for schema in [
        "AutomationInput",
        "Scope",
        "Trigger",
        "ActionSpec",
        "EventInput",
        "ErrorBody",
        "IntegrationOut",
        "ExecutionOut",
    ] {
        assert!(schemas.get(schema).is_some(), "schema {schema} missing");
    }
    // Store rows stay out of the API's schemas: answers have types of their own.
    for row in [
        "IntegrationRecord",
        "ExecutionRecord",
        "SecretRecord",
        "IngestOutcome",
    ] {
        assert!(schemas.get(row).is_none(), "store row {row} in the schemas");
    }
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.get(name).is_some(), "dangling reference to {name}");
    }
}
