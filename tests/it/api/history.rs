//! History at any size: 10,000 executions made within a minute are every one reachable by
//! following `next_cursor`, entity-wide and per automation, with a filter kept across pages, and
//! a cursor this API did not give is refused; the other lists (automations, events, items, tasks)
//! page the same way.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Api, Server, create_automation, create_integration, expect_status};

/// Follows `path` (with `?limit=`) page by page; every item under `key`, in order.
pub(crate) async fn every_item(api: &Api, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_string(),
        };
        let page = expect_status(&api.get(&url).await, 200).clone();
        items.extend(page[key].as_array().unwrap().iter().cloned());
        match (page["has_more"].as_bool(), page["next_cursor"].as_str()) {
            (Some(true), Some(next)) => cursor = Some(next.to_string()),
            (Some(false), None) => return items,
            other => panic!("has_more and next_cursor disagree: {other:?}"),
        }
    }
    panic!("more than 100 pages");
}

/// The ids of every execution `path` lists, page by page, in order.
async fn every_page(api: &Api, path: &str) -> Vec<String> {
    let executions = every_item(api, path, "executions").await;
    executions
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn ten_thousand_executions_are_all_reachable_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    // Delivers nothing, bounds no backlog: the 10,000 executions stay pending.
    let config = "[delivery]\nworkers = 0\nmax_backlog = 0\n";
    let server = Server::start_with(
        dir.path(),
        config,
        &[("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)],
        &[],
    );
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook"}),
    )
    .await;
    let mut automations = Vec::new();
    for name in ["deploy", "audit"] {
        let body = json!({"name": name, "scope": {"type": "entity"},
                          "event": {"type": "LINK_ARTIFACT"},
                          "action": {"type": "webhook", "integration": "ci"}});
        automations.push(create_automation(&admin, body).await);
    }
    for batch in 0..5 {
        let events: Vec<Value> = (0..1000)
            .map(|i| {
                json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                            "collection": "churn", "version": format!("v{batch}-{i}")})
            })
            .collect();
        expect_status(
            &admin
                .post("/v1/events/batch", &json!({"events": events}))
                .await,
            202,
        );
    }

    let all = every_page(&admin, "/v1/executions?limit=1000").await;
    assert_eq!(all.len(), 10_000);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        10_000,
        "no execution twice"
    );
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, sorted, "newest first across pages");
    // Per automation, in pages of an odd size, the filter kept across pages.
    let deploy = every_page(
        &admin,
        &format!(
            "/v1/automations/{}/executions?limit=777&status=pending",
            automations[0]
        ),
    )
    .await;
    assert_eq!(deploy.len(), 5_000);
    assert_eq!(deploy.iter().collect::<HashSet<_>>().len(), 5_000);
    let audit = every_page(
        &admin,
        &format!("/v1/executions?automation={}&limit=999", automations[1]),
    )
    .await;
    assert_eq!(audit.len(), 5_000);
    assert!(deploy.iter().all(|id| !audit.contains(id)));

    let forged = admin.get("/v1/executions?cursor=not-a-cursor").await;
    assert_eq!(expect_status(&forged, 400)["error"]["field"], "cursor");
}

#[tokio::test]
async fn automations_page_by_name_with_their_filter_kept() {
    let server = Server::ingest_only();
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook"}),
    )
    .await;
    // Names that sort differently by bytes and by a locale: one order on both backends.
    let mut names: Vec<String> = (0..23).map(|i| format!("auto-{i:02}")).collect();
    names.extend(["Zeta", "alpha", "Ärger", "_under"].map(String::from));
    for (i, name) in names.iter().enumerate() {
        let registry = if i % 2 == 0 { "even" } else { "odd" };
        let body = json!({"name": name, "scope": {"type": "registry", "registry": registry},
                          "event": {"type": "LINK_ARTIFACT"},
                          "action": {"type": "webhook", "integration": "ci"}});
        create_automation(&admin, body).await;
    }
    names.sort();
    let listed = every_item(&admin, "/v1/automations?limit=5", "automations").await;
    let listed: Vec<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names, "every automation once, by name");
    let first = expect_status(&admin.get("/v1/automations").await, 200).clone();
    assert_eq!(
        first["automations"].as_array().unwrap().len(),
        27,
        "the default page holds 100"
    );
    assert_eq!(first["has_more"], false);

    let even = every_item(
        &admin,
        "/v1/automations?limit=4&project=even",
        "automations",
    )
    .await;
    assert_eq!(even.len(), 14);
    assert!(
        even.iter().all(|a| a["scope"]["registry"] == "even"),
        "{even:?}"
    );

    for forged in ["not a cursor", "__8", "%FF"] {
        let answer = admin.get(&format!("/v1/automations?cursor={forged}")).await;
        assert_eq!(
            expect_status(&answer, 400)["error"]["field"],
            "cursor",
            "{forged}"
        );
    }
}

#[tokio::test]
async fn events_page_newest_first_by_type_and_time() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let mut posted = Vec::new();
    for i in 0..12 {
        let event = if i % 3 == 0 {
            json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "default", "registry": "models",
                   "collection": "churn", "version": format!("v{i}"), "alias": "production"})
        } else {
            json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                   "collection": "churn", "version": format!("v{i}")})
        };
        posted.push(crate::common::post_event(&admin, &event).await);
    }
    let listed = every_item(&admin, "/v1/events?limit=5", "events").await;
    let ids: Vec<&str> = listed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = posted.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first);
    assert_eq!(listed[0]["event"]["version"], "v11");
    assert!(
        listed[0]["event"]["received_at"].is_string(),
        "{}",
        listed[0]
    );
    assert_eq!(listed[0]["matched"], 0);

    let aliases = every_item(
        &admin,
        "/v1/events?limit=2&type=ADD_ARTIFACT_ALIAS",
        "events",
    )
    .await;
    let versions: Vec<&str> = aliases
        .iter()
        .map(|e| e["event"]["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v9", "v6", "v3", "v0"]);

    // From the sixth event's arrival on: the last seven (to the millisecond, so at least).
    let sixth = &listed[6]["event"]["received_at"];
    let since = every_item(
        &admin,
        &format!("/v1/events?limit=3&since={}", sixth.as_str().unwrap()),
        "events",
    )
    .await;
    assert!(since.len() >= 7 && since.len() <= 12, "{}", since.len());
    assert!(since.iter().any(|e| e["id"] == listed[6]["id"]));

    for bad in ["type=NOT_A_TYPE", "cursor=zzz", "since=noon", "colour=red"] {
        let (status, body) = admin.get(&format!("/v1/events?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn queue_items_and_tasks_page_newest_first() {
    let server = Server::ingest_only();
    let admin = server.admin();
    expect_status(
        &admin
            .put(
                "/v1/entities/default/jobs/train",
                &json!({"command": ["true"], "config": {}}),
            )
            .await,
        201,
    );
    expect_status(
        &admin
            .post("/v1/entities/default/queues", &json!({"name": "gpu"}))
            .await,
        201,
    );
    let mut enqueued = Vec::new();
    for _ in 0..13 {
        let (status, item) = admin
            .post(
                "/v1/entities/default/queues/gpu/items",
                &json!({"job": "train", "project": "vision"}),
            )
            .await;
        assert_eq!(status, 201, "{item}");
        enqueued.push(item["id"].as_str().unwrap().to_string());
    }
    let items = every_item(
        &admin,
        "/v1/entities/default/queues/gpu/items?limit=4",
        "items",
    )
    .await;
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = enqueued.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first);
    let queued = "/v1/entities/default/queues/gpu/items?limit=5&status=queued";
    assert_eq!(every_item(&admin, queued, "items").await.len(), 13);
    let (status, _) = admin
        .get("/v1/entities/default/queues/gpu/items?cursor=%21%21")
        .await;
    assert_eq!(status, 400);

    let mut started = Vec::new();
    for n in 0..7 {
        let (status, task) = admin
            .post(
                "/v1/executions/retry",
                &json!({"since": format!("2026-01-0{}T00:00:00Z", n + 1),
                        "until": format!("2026-01-0{}T12:00:00Z", n + 1)}),
            )
            .await;
        assert_eq!(status, 202, "{task}");
        started.push(task["id"].as_str().unwrap().to_string());
    }
    let tasks = every_item(&admin, "/v1/tasks?limit=3", "tasks").await;
    let ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    // Tasks made in the same millisecond order by id: the set is what pages must keep.
    assert_eq!(ids.len(), 7);
    let listed: HashSet<&str> = ids.into_iter().collect();
    assert_eq!(
        listed,
        started.iter().map(String::as_str).collect::<HashSet<_>>(),
        "each task once"
    );
    for forged in ["nope", "task_", "task_a%2Fb", ""] {
        let (status, body) = admin.get(&format!("/v1/tasks?cursor={forged}")).await;
        assert_eq!(status, 400, "{forged}: {body}");
    }
}
