//! The document as strict as the server, checked from both sides; its operation ids and the
//! links between its operations.

use serde_json::{Value, json};

use crate::common::Server;

/// The places where generated requests (schemathesis over `/v1/openapi.json`) found the document
/// and the server disagreeing, each checked from both sides: what the document says, and that the
/// server takes exactly that.
#[tokio::test]
async fn the_document_is_exactly_as_strict_as_the_server() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let schema = |name: &str| document["components"]["schemas"][name].clone();

    // A whole number written with a fraction is an integer to JSON Schema, so to the API too;
    // a real fraction is refused, naming the field.
    assert_eq!(schema("RateLimit")["properties"]["max"]["minimum"], 1);
    let automation = |max: Value| {
        json!({"name": format!("whole-{max}"), "scope": {"type": "entity"},
               "event": {"type": "RUN_STATE"}, "action": {"type": "no-op"},
               "rate_limit": {"max": max, "per_seconds": 60.0}})
    };
    let (status, body) = admin.post("/v1/automations", &automation(json!(2.0))).await;
    assert_eq!(
        (status, &body["rate_limit"]),
        (201, &json!({"max": 2, "per_seconds": 60}))
    );
    let (status, body) = admin.post("/v1/automations", &automation(json!(2.5))).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("rate_limit.max")),
        "{body}"
    );
    let (status, body) = admin.post("/v1/automations", &automation(json!(0))).await;
    assert_eq!(status, 400, "{body}");
    let sample = json!({"type": "RUN_METRIC", "entity": "default", "project": "p",
                        "run_id": "r", "step": 3.0, "metrics": {"loss": 1.0}});
    assert_eq!(admin.post("/v1/events", &sample).await.0, 202);

    // A date-time may carry any offset; the history filter reads it as the instant it names.
    let executions = &document["paths"]["/v1/executions"]["get"]["parameters"];
    let since = executions
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "since")
        .unwrap();
    assert_eq!(since["schema"]["format"], "date-time");
    for since in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T02:00:00%2B02:00",
        "0144-04-24T20:51:33-21:38",
    ] {
        let (status, body) = admin.get(&format!("/v1/executions?since={since}")).await;
        assert_eq!(status, 200, "{since}: {body}");
    }
    // An automation's own history names the automation in its path only.
    let own = &document["paths"]["/v1/automations/{id}/executions"]["get"]["parameters"];
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "automation"),
        "{own}"
    );

    // Names: the document's pattern and the server agree on every edge.
    let pattern = schema("NewEntity")["properties"]["name"]["pattern"]
        .as_str()
        .unwrap()
        .to_string();
    let pattern = regex::Regex::new(&pattern).unwrap();
    let long_wide = "é".repeat(128);
    for name in [
        "team-a",
        "a/b",
        "a:b",
        "tab\there",
        "c1\u{85}",
        "",
        &long_wide,
        &"x".repeat(129),
    ] {
        let valid = pattern.is_match(name);
        let (status, body) = admin.post("/v1/entities", &json!({"name": name})).await;
        assert_eq!(
            status == 201,
            valid,
            "{name:?}: the document says {valid}, the server {status} {body}"
        );
    }
    // An empty batch is refused by both.
    assert_eq!(schema("Batch")["properties"]["events"]["minItems"], 1);
    assert_eq!(
        admin
            .post("/v1/events/batch", &json!({"events": []}))
            .await
            .0,
        400
    );
    // A reference to something that does not exist is 422 `missing` naming the field: well-formed,
    // and not a 404, which is about what the path names.
    let (status, body) = admin
        .post(
            "/v1/entities/default/keys",
            &json!({"role": "agent", "queues": ["nowhere"]}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["field"], &body["error"]["code"]),
        (422, &json!("queues[0]"), &json!("missing")),
        "{body}"
    );
}

/// Every operation has an id of its own, and every link leads to an operation that takes the
/// parameters it names.
#[tokio::test]
async fn operation_ids_are_unique_and_links_lead_somewhere() {
    let server = Server::ingest_only();
    let document = server.anonymous().get("/v1/openapi.json").await.1;
    let mut operations = std::collections::BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap().to_string();
            let before = operations.insert(id.clone(), (path.clone(), operation.clone()));
            assert!(
                before.is_none(),
                "{id} names two operations ({method} {path})"
            );
        }
    }
    assert_eq!(operations["automations_create"].0, "/v1/automations");
    let mut links = 0;
    for (from, (_, operation)) in &operations {
        for (status, answer) in operation["responses"].as_object().unwrap() {
            for (name, link) in answer["links"].as_object().into_iter().flatten() {
                links += 1;
                let to = link["operationId"].as_str().unwrap();
                let (path, target) = operations
                    .get(to)
                    .unwrap_or_else(|| panic!("{from} {status} links to {to}, which is not there"));
                let taken: Vec<&str> = target["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    assert!(
                        taken.contains(&parameter.as_str()),
                        "{name}: {path} takes no {parameter}"
                    );
                }
            }
        }
    }
    assert!(links >= 16, "{links} links");
}
