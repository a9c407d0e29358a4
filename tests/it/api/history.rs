//! History at any size: 10,000 executions made within a minute are every one reachable by
//! following `next_cursor`, entity-wide and per automation, with a filter kept across pages, and
//! a cursor this API did not give is refused.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Api, Server, create_automation, create_integration, expect_status};

/// Follows `path` (with `?limit=`) page by page; the ids of every execution, in order.
async fn every_page(api: &Api, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_string(),
        };
        let page = expect_status(&api.get(&url).await, 200).clone();
        let executions = page["executions"].as_array().unwrap();
        ids.extend(
            executions
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match (page["has_more"].as_bool(), page["next_cursor"].as_str()) {
            (Some(true), Some(next)) => cursor = Some(next.to_string()),
            (Some(false), None) => return ids,
            other => panic!("has_more and next_cursor disagree: {other:?}"),
        }
    }
    panic!("more than 100 pages");
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
