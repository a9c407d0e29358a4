//! The HTTP API against the real binary and a real SQLite file: every route's success and failure
//! statuses, the permission matrix, matching and scope isolation, template safety, idempotency,
//! restart, and secrets that never leak.

use crate::common::{Api, Server, expect_status};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "sk-live-7f3a9c1e-NEVER-SHOW-ME";

/// An automation body in the bootstrap entity with a webhook action through integration `ci`.
fn automation(name: &str, scope: Value, event: Value) -> Value {
    json!({
        "name": name,
        "scope": scope,
        "event": event,
        "action": {"type": "webhook", "integration": "ci"}
    })
}

fn alias_event(entity: &str, space: (&str, &str), collection: &str, alias: &str) -> Value {
    json!({"type": "ADD_ARTIFACT_ALIAS", "entity": entity, space.0: space.1,
           "collection": collection, "version": "v1", "alias": alias, "author": "ana"})
}

/// The bootstrap entity with a secret, an integration, a member key, and a second entity.
struct World {
    server: Server,
    admin: Api,
    member: Api,
    other: Api,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_ingest_only(&dir.path().join("data"));
        let admin = server.admin();
        expect_status(
            &admin
                .put(
                    "/v1/entities/default/secrets/TOKEN",
                    &json!({"value": SECRET_VALUE}),
                )
                .await,
            201,
        );
        crate::common::create_integration(&admin, json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook", "access_token": "TOKEN"})).await;
        let member_key = crate::common::member_key(&admin, "ci bot").await;
        let rival = expect_status(
            &admin.post("/v1/entities", &json!({"name": "rival"})).await,
            201,
        )
        .clone();
        let member = server.client(&member_key);
        let other = server.client(rival["admin_key"]["key"].as_str().unwrap());
        Self {
            server,
            admin,
            member,
            other,
            _dir: dir,
        }
    }
}

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
                pick(201, 201, 404),
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
                pick(202, 202, 404),
            ),
            (
                "POST",
                "/v1/events/batch".into(),
                Some(
                    json!({"events": [{"type": "RUN_STATE", "entity": "default", "project": "p", "run_id": "r3", "state": "FINISHED"}]}),
                ),
                pick(202, 202, 404),
            ),
            (
                "GET",
                format!("/v1/events/{event_id}"),
                None,
                pick(200, 200, 404),
            ),
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

/// The API error's message.
fn message(response: &(u16, Value)) -> String {
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
        assert_eq!(r.0, 400, "{url} accepted: {}", r.1);
        assert!(message(&r).starts_with("url:"), "{}", message(&r));
    }
    let r = admin
        .post("/v1/entities/default/integrations", &json!({"name": "s", "kind": "webhook", "url": "https://x.example.com/", "signing_secret": "MISSING"}))
        .await;
    assert_eq!(
        (r.0, message(&r).contains("no secret named MISSING")),
        (404, true),
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
                json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "(oops"}}}),
            ),
            "event.filter: $.alias.$regex: invalid regex",
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
    // A plugin that is not installed is not found (404), and the answer says which are.
    let r = admin.post("/v1/automations", &no_integration).await;
    assert!(
        r.0 == 404
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
async fn oversized_requests_are_413_and_unknown_ids_404() {
    let world = World::new().await;
    let admin = &world.admin;
    // 413: too many events, too many bytes.
    let many: Vec<Value> = (0..1001)
        .map(|i| alias_event("default", ("registry", "r"), "c", &format!("a{i}")))
        .collect();
    let r = admin
        .post("/v1/events/batch", &json!({"events": many}))
        .await;
    assert_eq!(r.0, 413, "{}", r.1);
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

#[tokio::test]
async fn events_trigger_only_the_automations_whose_scope_and_filter_hold() {
    let world = World::new().await;
    let admin = &world.admin;
    let mut ids = std::collections::BTreeMap::new();
    for (name, scope, event) in [
        (
            "project-a",
            json!({"type": "project", "project": "alpha"}),
            json!({"type": "RUN_STATE", "filter": {"state": "FAILED"}}),
        ),
        (
            "project-b",
            json!({"type": "project", "project": "beta"}),
            json!({"type": "RUN_STATE"}),
        ),
        (
            "entity-wide",
            json!({"type": "entity"}),
            json!({"type": "RUN_STATE", "filter": {"run_name": {"$regex": "^nightly"}}}),
        ),
        (
            "registry-models",
            json!({"type": "registry", "registry": "models"}),
            json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}}),
        ),
        (
            "project-models",
            json!({"type": "project", "project": "models"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
        (
            "churn-only",
            json!({"type": "collection", "registry": "models", "collection": "churn"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
        (
            "disabled",
            json!({"type": "entity"}),
            json!({"type": "ADD_ARTIFACT_ALIAS"}),
        ),
    ] {
        let mut body = automation(name, scope, event);
        body["enabled"] = json!(name != "disabled");
        let created = expect_status(&admin.post("/v1/automations", &body).await, 201).clone();
        ids.insert(name, created["id"].as_str().unwrap().to_string());
    }
    let fired = |event: Value| {
        let admin = admin.clone();
        let ids = ids.clone();
        async move {
            let r = admin.post("/v1/events", &event).await;
            let event_id = expect_status(&r, 202)["event_id"]
                .as_str()
                .unwrap()
                .to_string();
            let (_, stored) = admin.get(&format!("/v1/events/{event_id}")).await;
            let mut names: Vec<String> = stored["executions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let id = e["automation_id"].as_str().unwrap();
                    ids.iter()
                        .find(|(_, v)| v.as_str() == id)
                        .unwrap()
                        .0
                        .to_string()
                })
                .collect();
            names.sort();
            assert_eq!(
                r.1["matched"],
                names.len(),
                "matched counts what was created"
            );
            names
        }
    };
    let run = |project: &str, name: &str, state: &str| json!({"type": "RUN_STATE", "entity": "default", "project": project, "run_id": "r", "run_name": name, "state": state});
    assert_eq!(fired(run("alpha", "adhoc", "CRASHED")).await, ["project-a"]);
    assert_eq!(
        fired(run("alpha", "adhoc", "FINISHED")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        fired(run("alpha", "nightly-7", "FAILED")).await,
        ["entity-wide", "project-a"]
    );
    assert_eq!(
        fired(run("beta", "adhoc", "FAILED")).await,
        ["project-b"],
        "never project A's automation"
    );
    assert_eq!(
        fired(run("gamma", "nightly-1", "RUNNING")).await,
        ["entity-wide"]
    );
    // A registry and a project of the same name are different places.
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "churn",
            "production"
        ))
        .await,
        ["churn-only", "registry-models"]
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "fraud",
            "staging"
        ))
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("project", "models"),
            "churn",
            "production"
        ))
        .await,
        ["project-models"]
    );

    // Enabling, editing and deleting change what matches next, never what already ran.
    expect_status(
        &admin
            .patch(
                &format!("/v1/automations/{}", ids["disabled"]),
                &json!({"enabled": true}),
            )
            .await,
        200,
    );
    assert_eq!(
        fired(alias_event(
            "default",
            ("registry", "models"),
            "fraud",
            "staging"
        ))
        .await,
        ["disabled"]
    );
    let project_a = &ids["project-a"];
    let (_, before) = admin
        .get(&format!("/v1/automations/{project_a}/executions"))
        .await;
    let first = before["executions"][0].clone();
    expect_status(
        &admin
            .patch(
                &format!("/v1/automations/{project_a}"),
                &json!({"name": "renamed", "event": {"type": "RUN_STATE"}}),
            )
            .await,
        200,
    );
    assert_eq!(
        fired(run("alpha", "adhoc", "FINISHED")).await,
        ["project-a"],
        "the edited filter applies to new events"
    );
    expect_status(
        &admin.delete(&format!("/v1/automations/{project_a}")).await,
        204,
    );
    assert_eq!(
        fired(run("alpha", "adhoc", "FAILED")).await,
        Vec::<String>::new()
    );
    let (status, after) = admin
        .get(&format!("/v1/automations/{project_a}/executions"))
        .await;
    assert_eq!(status, 200, "a deleted automation's history stays: {after}");
    let kept = after["executions"].as_array().unwrap();
    assert_eq!(kept.len(), 3);
    let original = kept.iter().find(|e| e["id"] == first["id"]).unwrap();
    assert_eq!(
        original["automation"]["name"], "project-a",
        "the snapshot is what fired"
    );
    assert_eq!(
        original["automation"]["event"]["filter"],
        json!({"state": "FAILED"})
    );
    let (_, execution) = admin
        .get(&format!("/v1/executions/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(execution["status"], "pending");

    // The list filters by project and collection and shows the reference UI's columns.
    let (_, listed) = admin
        .get("/v1/automations?project=models&collection=churn")
        .await;
    let rows = listed["automations"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "churn-only");
    assert_eq!(rows[0]["trigger_type"], "ADD_ARTIFACT_ALIAS");
    assert_eq!(rows[0]["action_type"], "webhook");
    assert_eq!(rows[0]["action_name"], "ci");
    assert_eq!(rows[0]["queue"], Value::Null);
}

#[tokio::test]
async fn template_values_stay_strings_and_idempotent_posts_create_nothing_new() {
    let world = World::new().await;
    let admin = &world.admin;
    let mut body = automation(
        "tpl",
        json!({"type": "registry", "registry": "models"}),
        json!({"type": "LINK_ARTIFACT"}),
    );
    body["action"]["payload"] = json!({
        "who": "${event_author}",
        "what": ["${artifact_version_string}", "literal $${event_type}"],
        "secret": "Bearer ${TOKEN}"
    });
    let automation_id = expect_status(&admin.post("/v1/automations", &body).await, 201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hostile = "\"}],\"x\":\"\n\t\\ ünïcödé 🚀 ${event_type} $${x}";
    let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models", "collection": "churn",
                       "version": "v9", "author": hostile});
    let headers = [("idempotency-key", "post-42")];
    let (status, first) = admin
        .send("POST", "/v1/events", Some(&event), &headers)
        .await;
    assert_eq!(status, 202);
    let (status, second) = admin
        .send("POST", "/v1/events", Some(&event), &headers)
        .await;
    assert_eq!(status, 202);
    assert_eq!(first["event_id"], second["event_id"]);
    assert_eq!(
        (first["duplicate"].clone(), second["duplicate"].clone()),
        (json!(false), json!(true))
    );
    let (_, executions) = admin
        .get(&format!("/v1/automations/{automation_id}/executions"))
        .await;
    assert_eq!(
        executions["executions"].as_array().unwrap().len(),
        1,
        "the retry created no execution"
    );

    let payload = &executions["executions"][0]["payload"];
    assert_eq!(payload["who"], hostile, "exactly the original value");
    assert_eq!(
        payload["what"],
        json!(["default/models/churn:v9", "literal ${event_type}"])
    );
    assert_eq!(
        payload["secret"], "Bearer ${TOKEN}",
        "records show the reference, never the value"
    );
    assert_eq!(payload.as_object().unwrap().len(), 3, "nothing injected");

    // A batch with a key: retried whole, it returns the same ids.
    let batch = json!({"events": [event.clone(), event.clone()]});
    let headers = [("idempotency-key", "batch-1")];
    let (_, one) = admin
        .send("POST", "/v1/events/batch", Some(&batch), &headers)
        .await;
    let (_, two) = admin
        .send("POST", "/v1/events/batch", Some(&batch), &headers)
        .await;
    assert_eq!(one["events"][0]["event_id"], two["events"][0]["event_id"]);
    assert_eq!(one["events"][1]["event_id"], two["events"][1]["event_id"]);
    assert_ne!(one["events"][0]["event_id"], one["events"][1]["event_id"]);
    assert_eq!(one["matched"], 2);
}

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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
    let (status, document) = server.anonymous().get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    let routes = [
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("post", "/v1/executions/{id}/retry"),
        ("post", "/v1/entities/{entity}/integrations/{name}/test"),
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
