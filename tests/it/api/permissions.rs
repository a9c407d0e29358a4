//! The permission matrix: every /v1 route called as an admin, a member, another entity's admin
//! and no key at all, each with the status it must answer.

use serde_json::{Value, json};

use super::*;
use crate::common::expect_status;

/// Who calls the routes in [`route_matrix`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Caller {
    Admin,
    Member,
    /// The admin of another entity.
    Other,
    /// No key, then a key that does not exist.
    Anonymous,
}

/// Calls every /v1 route as `caller` and checks each status; returns the world for follow-up
/// checks and the id of the automation the routes read and patch.
async fn route_matrix(caller: Caller) -> (World, String) {
    let world = World::new().await;
    let World {
        server,
        admin,
        member,
        other,
        ..
    } = &world;
    let none = server.anonymous();
    let bad = server.client("hk_not-a-real-key");

    // Things to read, change and delete.
    let automation_id = expect_status(
        &admin
            .post(
                "/v1/automations",
                &automation(
                    "target",
                    json!({"type": "entity"}),
                    json!({"type": "RUN_STATE"}),
                ),
            )
            .await,
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ingested = expect_status(
        &admin
            .post("/v1/events", &json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r1", "state": "FAILED"}))
            .await,
        202,
    )
    .clone();
    let event_id = ingested["event_id"].as_str().unwrap().to_string();
    let (_, event) = admin.get(&format!("/v1/events/{event_id}")).await;
    let execution_id = event["executions"][0]["id"].as_str().unwrap().to_string();

    // A job and a queue for the launch routes.
    expect_status(
        &admin
            .put(
                "/v1/entities/default/jobs/mjob",
                &json!({"command": ["true"], "config": {"k": 1}}),
            )
            .await,
        201,
    );
    expect_status(
        &admin
            .post("/v1/entities/default/queues", &json!({"name": "mq"}))
            .await,
        201,
    );

    let mut counter = 0;
    let mut unique = |prefix: &str| {
        counter += 1;
        format!("{prefix}{counter}")
    };

    // For each route: the statuses expected for (admin, member, other entity's admin).
    // No key and a bad key are 401 everywhere under /v1.
    {
        let role = format!("{caller:?}");
        let clients = match caller {
            Caller::Admin => vec![admin],
            Caller::Member => vec![member],
            Caller::Other => vec![other],
            Caller::Anonymous => vec![&none, &bad],
        };
        let pick = |a: u16, m: u16, o: u16| match caller {
            Caller::Admin => a,
            Caller::Member => m,
            Caller::Other => o,
            Caller::Anonymous => 401,
        };
        let spare_key = expect_status(
            &admin
                .post("/v1/entities/default/keys", &json!({"role": "member"}))
                .await,
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        let spare_secret = unique("SPARE_");
        expect_status(
            &admin
                .put(
                    &format!("/v1/entities/default/secrets/{spare_secret}"),
                    &json!({"value": "x1234"}),
                )
                .await,
            201,
        );
        let spare_integration = unique("spare-");
        crate::common::create_integration(admin, json!({"name": spare_integration, "kind": "webhook", "url": "https://spare.example.com/"})).await;
        let spare_automation = expect_status(
            &admin
                .post(
                    "/v1/automations",
                    &automation(
                        &unique("spare-"),
                        json!({"type": "entity"}),
                        json!({"type": "RUN_STATE"}),
                    ),
                )
                .await,
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_string();

        let spare_item = crate::common::created(
            admin,
            "/v1/entities/default/queues/mq/items",
            &json!({"job": "mjob", "project": "p"}),
            "id",
        )
        .await;
        let cases: Vec<(&str, String, Option<Value>, u16)> = vec![
            (
                "PUT",
                "/v1/entities/default/jobs/mjob".into(),
                Some(json!({"command": ["true"], "config": {"k": 1}})),
                pick(201, 403, 404),
            ),
            (
                "GET",
                "/v1/entities/default/jobs".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                "/v1/entities/default/jobs/mjob@1".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                "/v1/entities/default/jobs/mjob/versions".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "POST",
                "/v1/entities/default/queues".into(),
                Some(json!({"name": unique("q")})),
                pick(201, 403, 404),
            ),
            (
                "GET",
                "/v1/entities/default/queues".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "POST",
                "/v1/entities/default/queues/mq/items".into(),
                Some(json!({"job": "mjob", "project": "p", "overrides": {"k": 2}})),
                pick(201, 201, 404),
            ),
            (
                "GET",
                "/v1/entities/default/queues/mq/items?status=queued".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                format!("/v1/entities/default/items/{spare_item}"),
                None,
                pick(200, 200, 404),
            ),
            (
                "POST",
                format!("/v1/entities/default/items/{spare_item}/cancel"),
                None,
                pick(200, 200, 404),
            ),
            (
                "POST",
                format!("/v1/entities/default/items/{spare_item}/heartbeat"),
                Some(json!({"lease_token": "a"})),
                // Only agent keys run items (tests/it/agents.rs); no admin or member key may.
                pick(403, 403, 403),
            ),
            (
                "POST",
                format!("/v1/entities/default/items/{spare_item}/finish"),
                Some(json!({"lease_token": "a", "exit_code": 143})),
                pick(403, 403, 403),
            ),
            (
                "POST",
                format!("/v1/entities/default/items/{spare_item}/output"),
                Some(json!({"lease_token": "a", "offset": 0, "text": "x"})),
                pick(403, 403, 403),
            ),
            (
                "GET",
                format!("/v1/entities/default/items/{spare_item}/output?offset=0"),
                None,
                pick(200, 200, 404),
            ),
            (
                "POST",
                "/v1/entities/default/queues/mq/claim".into(),
                Some(json!({"agent": "matrix"})),
                pick(403, 403, 403),
            ),
            ("GET", "/v1/plugins".into(), None, pick(200, 200, 200)),
            ("GET", "/v1/triggers".into(), None, pick(200, 200, 200)),
            // Everyone reads their own entity's history (another entity's key sees its own).
            ("GET", "/v1/executions".into(), None, pick(200, 200, 200)),
            ("GET", "/v1/me".into(), None, pick(200, 200, 200)),
            (
                "POST",
                "/v1/entities".into(),
                Some(json!({"name": unique("team-")})),
                pick(201, 403, 403),
            ),
            (
                "GET",
                "/v1/entities/default/keys".into(),
                None,
                pick(200, 403, 404),
            ),
            (
                "POST",
                "/v1/entities/default/keys".into(),
                Some(json!({"role": "member"})),
                pick(201, 403, 404),
            ),
            (
                "DELETE",
                format!("/v1/entities/default/keys/{spare_key}"),
                None,
                pick(204, 403, 404),
            ),
            (
                "PUT",
                "/v1/entities/default/secrets/NEW_ONE".into(),
                Some(json!({"value": "abcd"})),
                pick(201, 403, 404),
            ),
            (
                "GET",
                "/v1/entities/default/secrets".into(),
                None,
                pick(200, 403, 404),
            ),
            (
                "GET",
                "/v1/entities/default/audit".into(),
                None,
                pick(200, 403, 404),
            ),
            (
                "DELETE",
                format!("/v1/entities/default/secrets/{spare_secret}"),
                None,
                pick(204, 403, 404),
            ),
            (
                "POST",
                "/v1/entities/default/integrations".into(),
                Some(
                    json!({"name": unique("new-"), "kind": "slack", "url": "https://hooks.slack.com/x"}),
                ),
                pick(201, 403, 404),
            ),
            (
                "GET",
                "/v1/entities/default/integrations".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                "/v1/entities/default/integrations/ci".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "PATCH",
                "/v1/entities/default/integrations/ci".into(),
                Some(json!({"url": "https://ci2.example.com/"})),
                pick(200, 403, 404),
            ),
            (
                "DELETE",
                format!("/v1/entities/default/integrations/{spare_integration}"),
                None,
                pick(204, 403, 404),
            ),
            (
                "POST",
                "/v1/automations".into(),
                Some(
                    json!({"entity": "default", "name": unique("auto-"), "scope": {"type": "entity"},
                            "event": {"type": "RUN_STATE"}, "action": {"type": "webhook", "integration": "ci"}}),
                ),
                pick(201, 201, 422),
            ),
            (
                "GET",
                "/v1/automations?entity=default".into(),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                format!("/v1/automations/{automation_id}"),
                None,
                pick(200, 200, 404),
            ),
            (
                "PATCH",
                format!("/v1/automations/{automation_id}"),
                Some(json!({"description": role})),
                pick(200, 200, 404),
            ),
            (
                "GET",
                format!("/v1/automations/{automation_id}/executions"),
                None,
                pick(200, 200, 404),
            ),
            (
                "DELETE",
                format!("/v1/automations/{spare_automation}"),
                None,
                pick(204, 204, 404),
            ),
            (
                "POST",
                "/v1/events".into(),
                Some(
                    json!({"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r2", "state": "RUNNING"}),
                ),
                pick(202, 202, 422),
            ),
            (
                "POST",
                "/v1/events/batch".into(),
                Some(
                    json!({"events": [{"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r3", "state": "FINISHED"}]}),
                ),
                pick(202, 202, 422),
            ),
            (
                "GET",
                format!("/v1/events/{event_id}"),
                None,
                pick(200, 200, 404),
            ),
            (
                "GET",
                format!("/v1/events/{event_id}/explanation"),
                None,
                pick(200, 200, 404),
            ),
            ("GET", "/v1/places".into(), None, pick(200, 200, 200)),
            (
                "GET",
                format!("/v1/executions/{execution_id}"),
                None,
                pick(200, 200, 404),
            ),
        ];
        for (method, path, body, expected) in &cases {
            for client in &clients {
                let (status, response) = client.send(method, path, body.as_ref(), &[]).await;
                assert_eq!(status, *expected, "{role}: {method} {path} → {response}");
                if status >= 400 {
                    assert!(
                        response["error"]["code"].is_string()
                            && response["error"]["message"].is_string(),
                        "{response}"
                    );
                }
            }
        }
    }
    (world, automation_id)
}

#[tokio::test]
async fn an_admin_may_use_every_route_of_its_entity() {
    let (world, automation_id) = route_matrix(Caller::Admin).await;
    let (_, automation) = world
        .admin
        .get(&format!("/v1/automations/{automation_id}"))
        .await;
    assert_eq!(automation["description"], "Admin");
    let (_, integration) = world
        .admin
        .get("/v1/entities/default/integrations/ci")
        .await;
    assert_eq!(integration["url"], "https://ci2.example.com/");
}

#[tokio::test]
async fn a_member_reads_and_runs_but_does_not_administer() {
    let (world, automation_id) = route_matrix(Caller::Member).await;
    let (_, automation) = world
        .admin
        .get(&format!("/v1/automations/{automation_id}"))
        .await;
    assert_eq!(
        automation["description"], "Member",
        "a member may edit automations"
    );
    let (_, integration) = world
        .admin
        .get("/v1/entities/default/integrations/ci")
        .await;
    assert_ne!(
        integration["url"], "https://ci2.example.com/",
        "a member may not edit integrations"
    );
}

#[tokio::test]
async fn another_entitys_admin_finds_nothing_of_ours_and_changes_nothing() {
    let (world, automation_id) = route_matrix(Caller::Other).await;
    let (_, automation) = world
        .admin
        .get(&format!("/v1/automations/{automation_id}"))
        .await;
    assert_ne!(automation["description"], "Other");
    let (_, listed) = world.other.get("/v1/automations").await;
    assert_eq!(
        listed["automations"],
        json!([]),
        "another entity's automations are invisible"
    );
    let (_, integration) = world
        .admin
        .get("/v1/entities/default/integrations/ci")
        .await;
    assert_ne!(integration["url"], "https://ci2.example.com/");
}

#[tokio::test]
async fn no_key_or_a_bad_key_is_401_on_every_route_and_health_needs_none() {
    let (world, _) = route_matrix(Caller::Anonymous).await;
    assert_eq!(world.server.anonymous().get("/healthz").await.0, 200);
}
