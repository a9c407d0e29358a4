//! What the API refuses and how: bad bodies (400, naming the field), configs the plugin's schema
//! refuses (422), duplicates and things in use (409), oversized requests (413), unknown ids (404).

use serde_json::{Value, json};

use super::*;
use crate::common::expect_status;

/// The API error's message.
pub(super) fn message(response: &(u16, Value)) -> String {
    response.1["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn bad_bodies_are_400_and_name_the_field() {
    let world = World::new().await;
    let admin = &world.admin;
    // 400: malformed and invalid bodies, each naming the field.
    let r = admin
        .send(
            "POST",
            "/v1/automations",
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.0, 400, "{}", r.1);
    let r = admin.post("/v1/automations", &json!({"name": "x"})).await;
    assert_eq!(r.0, 400);
    assert!(
        message(&r).contains("missing field `scope`"),
        "{}",
        message(&r)
    );
    let r = admin.post("/v1/events", &json!({"type": "LINK_ARTIFACT", "entity": "default", "project": "p", "collection": "c", "version": "v1"})).await;
    assert_eq!(
        (r.0, message(&r).starts_with("registry:")),
        (400, true),
        "{}",
        r.1
    );
    let r = admin
        .post("/v1/events/batch", &json!({"events": [alias_event("default", ("registry", "r"), "c", "a"), {"type": "RUN_STATE", "entity": "default", "project": "p"}]}))
        .await;
    assert_eq!(
        (r.0, message(&r).starts_with("events[1].run_id:")),
        (400, true),
        "{}",
        r.1
    );
    let r = admin
        .put(
            "/v1/entities/default/secrets/bad-name",
            &json!({"value": "v"}),
        )
        .await;
    assert_eq!(r.0, 400);
    // (The test server allows 127.0.0.0/8, so the literals here are from other ranges.)
    for url in [
        "http://10.1/",
        "http://167772161/",
        "http://0x0a000001/",
        "http://012.0.0.1/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://localhost/",
        "http://foo.localhost:8/",
        "ftp://x.example.com/",
    ] {
        let r = admin
            .post(
                "/v1/entities/default/integrations",
                &json!({"name": "ip", "kind": "webhook", "url": url}),
            )
            .await;
        // Well-formed, so not a 400: the egress policy, which the document cannot state, refuses.
        assert_eq!(
            (r.0, r.1["error"]["code"].as_str()),
            (422, Some("refused")),
            "{url} accepted: {}",
            r.1
        );
        assert!(message(&r).starts_with("url:"), "{}", message(&r));
    }
    for body in [
        json!({"name": "both", "kind": "webhook", "url": "https://x.example.com/", "url_secret": "S"}),
        json!({"name": "both", "kind": "webhook", "url": "", "url_secret": "S"}),
        json!({"name": "none", "kind": "webhook"}),
    ] {
        let r = admin.post("/v1/entities/default/integrations", &body).await;
        assert_eq!(r.0, 400, "{body} accepted: {}", r.1);
        assert!(
            message(&r).contains("exactly one of url and url_secret"),
            "{}",
            message(&r)
        );
    }
    let r = admin
        .post("/v1/entities/default/integrations", &json!({"name": "s", "kind": "webhook", "url": "https://x.example.com/", "signing_secret": "MISSING"}))
        .await;
    assert_eq!(
        (r.0, message(&r).contains("no secret named MISSING")),
        (422, true),
        "{}",
        r.1
    );

    let registry_scope = json!({"type": "registry", "registry": "models"});
    let invalid_automations = [
        (
            automation("a", registry_scope.clone(), json!({"type": "RUN_STATE"})),
            "event.type: RUN_STATE is not available in a registry scope",
        ),
        (
            automation(
                "a",
                json!({"type": "project", "project": "p"}),
                json!({"type": "LINK_ARTIFACT"}),
            ),
            "not available in a project scope",
        ),
        (
            automation(
                "a",
                json!({"type": "collection", "project": "p", "collection": "c"}),
                json!({"type": "LINK_ARTIFACT"}),
            ),
            "not available in a project collection scope",
        ),
        (
            automation(
                "a",
                json!({"type": "collection", "collection": "c"}),
                json!({"type": "ADD_ARTIFACT_ALIAS"}),
            ),
            "scope:",
        ),
        (
            automation(
                "a",
                registry_scope.clone(),
                json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"$or": [{"alias": {"$like": 1}}]}}),
            ),
            "event.filter: $.$or[0].alias.$like: unknown operator",
        ),
        (
            automation(
                "a",
                json!({"type": "project", "project": "p"}),
                json!({"type": "RUN_METRIC_THRESHOLD"}),
            ),
            "event.metric: required",
        ),
        (
            automation(
                "a",
                json!({"type": "project", "project": "p"}),
                json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "current_window": 1, "prior_window": 1, "change": "ABSOLUTE", "direction": "ANY", "amount": 0}}),
            ),
            "event.metric: amount must be a number greater than 0",
        ),
        (
            automation(
                &"n".repeat(256),
                registry_scope.clone(),
                json!({"type": "LINK_ARTIFACT"}),
            ),
            "name: must be 1 to 255 characters",
        ),
    ];
    for (body, expected) in invalid_automations {
        let r = admin.post("/v1/automations", &body).await;
        assert_eq!(r.0, 400, "{body}: {}", r.1);
        assert!(
            message(&r).contains(expected),
            "expected {expected:?} in {:?}",
            message(&r)
        );
    }
    // A `$regex` is any string to the document; the regex engine refusing one is a 422.
    let bad_regex = automation(
        "a",
        registry_scope.clone(),
        json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "(oops"}}}),
    );
    let r = admin.post("/v1/automations", &bad_regex).await;
    assert_eq!(
        (r.0, r.1["error"]["code"].as_str()),
        (422, Some("refused")),
        "{}",
        r.1
    );
    assert!(message(&r).contains("event.filter: $.alias.$regex: invalid regex"));
    let mut with_template = automation(
        "tpl",
        registry_scope.clone(),
        json!({"type": "LINK_ARTIFACT"}),
    );
    with_template["action"]["payload"] = json!({"x": "${no_such_thing}"});
    let r = admin.post("/v1/automations", &with_template).await;
    assert_eq!(r.0, 400);
    let text = message(&r);
    assert!(
        text.contains("no_such_thing")
            && text.contains("artifact_version_string")
            && text.contains("nor a secret integration ci grants")
            // Secret names are never listed, to admins or members.
            && !text.contains("TOKEN"),
        "{text}"
    );
    let mut no_integration = automation(
        "x",
        registry_scope.clone(),
        json!({"type": "LINK_ARTIFACT"}),
    );
    no_integration["action"] = json!({"type": "webhook"});
    assert_eq!(admin.post("/v1/automations", &no_integration).await.0, 400);
    no_integration["action"] = json!({"type": "carrier-pigeon", "integration": "ci"});
    // A plugin that is not installed is a name that refers to nothing (422 `missing`), and the
    // answer says which are installed.
    let r = admin.post("/v1/automations", &no_integration).await;
    assert!(
        r.0 == 422
            && r.1["error"]["field"] == "action.type"
            && message(&r)
                .contains("installed: github-dispatch, launch-job, no-op, slack, teams, webhook"),
        "{}",
        r.1
    );
}

#[tokio::test]
async fn a_config_the_schema_refuses_is_422_with_its_path() {
    let world = World::new().await;
    let admin = &world.admin;
    let registry_scope = json!({"type": "registry", "registry": "models"});
    // 422: the config breaks the plugin's declared schema (checked by the host, with the path).
    let mut refused = automation(
        "refused",
        registry_scope.clone(),
        json!({"type": "LINK_ARTIFACT"}),
    );
    refused["action"]["config"] = json!({"colour": "red"});
    let r = admin.post("/v1/automations", &refused).await;
    assert_eq!(r.0, 422, "{}", r.1);
    assert_eq!(r.1["error"]["code"], "plugin_refused");
    assert!(
        message(&r).contains("config schema") && message(&r).contains("'colour' was unexpected"),
        "{}",
        message(&r)
    );
}

#[tokio::test]
async fn duplicates_and_things_in_use_are_409_and_name_the_user() {
    let world = World::new().await;
    let admin = &world.admin;
    let registry_scope = json!({"type": "registry", "registry": "models"});
    // 409: duplicates and things in use.
    let body = automation(
        "deploy",
        registry_scope.clone(),
        json!({"type": "LINK_ARTIFACT"}),
    );
    expect_status(&admin.post("/v1/automations", &body).await, 201);
    let r = admin.post("/v1/automations", &body).await;
    assert_eq!(r.0, 409, "{}", r.1);
    let r = admin
        .post(
            "/v1/entities/default/integrations",
            &json!({"name": "ci", "kind": "webhook", "url": "https://x.example.com/"}),
        )
        .await;
    assert_eq!(r.0, 409);
    let r = admin.delete("/v1/entities/default/integrations/ci").await;
    assert_eq!(r.0, 409);
    assert!(
        message(&r).contains("used by automation deploy"),
        "{}",
        message(&r)
    );
    let r = admin.delete("/v1/entities/default/secrets/TOKEN").await;
    assert!(
        r.0 == 409 && message(&r).contains("used by integration ci"),
        "{}",
        r.1
    );
    assert_eq!(
        admin
            .post("/v1/entities", &json!({"name": "rival"}))
            .await
            .0,
        409
    );
}

#[tokio::test]
async fn oversized_requests_are_refused_and_unknown_ids_404() {
    let world = World::new().await;
    let admin = &world.admin;
    // Too many events is a bad batch (400, as the document's maxItems says); too many bytes 413.
    let many: Vec<Value> = (0..1001)
        .map(|i| alias_event("default", ("registry", "r"), "c", &format!("a{i}")))
        .collect();
    let r = admin
        .post("/v1/events/batch", &json!({"events": many}))
        .await;
    assert_eq!(
        (r.0, &r.1["error"]["field"]),
        (400, &json!("events")),
        "{}",
        r.1
    );
    // A bare array: the message says to wrap it.
    let bare = json!([alias_event("default", ("registry", "r"), "c", "a")]);
    let (status, body) = admin.post("/v1/events/batch", &bare).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(r#"{"events": [...]}"#), "{message}");
    // An object without them: the message names the field.
    let (status, body) = admin.post("/v1/events/batch", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`events`"),
        "{body}"
    );
    let mut huge = alias_event("default", ("registry", "r"), "c", "a");
    huge["author"] = json!("x".repeat(1_100_000));
    assert_eq!(admin.post("/v1/events", &huge).await.0, 413);

    // 404: unknown ids and routes.
    assert_eq!(admin.get("/v1/automations/aut_nope").await.0, 404);
    assert_eq!(admin.get("/v1/events/nope").await.0, 404);
    assert_eq!(admin.get("/v1/executions/nope").await.0, 404);
    assert_eq!(
        admin.delete("/v1/entities/default/secrets/NOPE").await.0,
        404
    );
    assert_eq!(admin.get("/v1/no-such-route").await.0, 404);
}
