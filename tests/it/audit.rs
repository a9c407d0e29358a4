//! The audit log through the real binary: a member's automation edit is recorded with who (the
//! key and its role), what and the fields before and after; secrets appear by name, never by
//! value; only admins read it; filters and the cursor reach every entry exactly once; the
//! command line shows it.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{
    ADMIN_KEY, Api, Server, create_automation, create_integration, expect_status, herald,
    put_secret,
};

const SECRET_VALUE: &str = "audit-never-shows-this-value-7f3a";

/// Every entry the filter `query` chooses, following the cursor with pages of `limit`; also
/// how many pages it took.
async fn every_entry(api: &Api, query: &str, limit: usize) -> (Vec<Value>, usize) {
    let base = format!("/v1/entities/default/audit?limit={limit}{query}");
    let (mut entries, mut pages) = (Vec::new(), 0);
    let mut path = base.clone();
    loop {
        let page = expect_status(&api.get(&path).await, 200).clone();
        pages += 1;
        let items = page["entries"].as_array().unwrap();
        assert!(items.len() <= limit, "{page}");
        entries.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page["has_more"], true, "{page}");
                path = format!("{base}&cursor={cursor}");
            }
            None => {
                assert_eq!(page["has_more"], false, "{page}");
                return (entries, pages);
            }
        }
    }
}

#[tokio::test]
async fn a_members_automation_edit_is_recorded_with_who_what_and_before_after() {
    let server = Server::fast();
    let admin = server.admin();
    put_secret(&admin, "HOOK_TOKEN", SECRET_VALUE).await;
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
               "signing_secret": "HOOK_TOKEN", "secrets": ["HOOK_TOKEN"]}),
    )
    .await;
    let key = expect_status(
        &admin
            .post(
                "/v1/entities/default/keys",
                &json!({"role": "member", "label": "ml-engineer"}),
            )
            .await,
        201,
    )
    .clone();
    let member = server.client(key["key"].as_str().unwrap());
    let member_id = key["id"].as_str().unwrap();

    let id = create_automation(
        &member,
        json!({"name": "notify", "scope": {"type": "entity"}, "event": {"type": "LINK_ARTIFACT"},
               "action": {"type": "webhook", "integration": "ci"}}),
    )
    .await;
    expect_status(
        &member
            .patch(
                &format!("/v1/automations/{id}"),
                &json!({"description": "now documented", "enabled": false}),
            )
            .await,
        200,
    );

    // Only admins read the log.
    let refused = expect_status(&member.get("/v1/entities/default/audit").await, 403).clone();
    assert!(refused.to_string().contains("admins"), "{refused}");

    let page = expect_status(
        &admin
            .get("/v1/entities/default/audit?action=automation.updated")
            .await,
        200,
    )
    .clone();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    let edit = &entries[0];
    assert_eq!(
        edit["actor"],
        json!({"key_id": member_id, "role": "member"})
    );
    assert_eq!(edit["target_kind"], "automation");
    assert_eq!(edit["target"], id.as_str());
    assert_eq!(edit["before"]["enabled"], true, "{edit}");
    assert_eq!(edit["before"]["description"], "", "{edit}");
    assert_eq!(edit["after"]["enabled"], false, "{edit}");
    assert_eq!(edit["after"]["description"], "now documented", "{edit}");
    assert!(edit["at"].as_str().unwrap().ends_with('Z'), "{edit}");

    // Deleting keeps what it was.
    expect_status(&member.delete(&format!("/v1/automations/{id}")).await, 204);

    let (all, _) = every_entry(&admin, "", 100).await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "automation.deleted",
            "automation.updated",
            "automation.created",
            "key.created",
            "integration.created",
            "secret.set",
        ],
        "newest first"
    );
    let deleted = &all[0];
    assert_eq!(deleted["before"]["name"], "notify");
    assert!(deleted.get("after").is_none_or(Value::is_null), "{deleted}");
    let integration = &all[4];
    assert_eq!(integration["actor"]["role"], "admin");
    assert_eq!(integration["after"]["signing_secret"], "HOOK_TOKEN");
    assert_eq!(all[3]["after"]["role"], "member");
    assert_eq!(all[3]["target"], member_id);
    assert!(
        all[3]["after"].get("key").is_none(),
        "a key is never recorded: {}",
        all[3]
    );
    // Names, never values: not even the key that was created.
    let text = serde_json::to_string(&all).unwrap();
    assert!(
        !text.contains(SECRET_VALUE),
        "a secret value in the log: {text}"
    );
    assert!(
        !text.contains(key["key"].as_str().unwrap()),
        "an API key in the log"
    );

    // Filters: a kind, a thing, a key.
    let (secrets, _) = every_entry(&admin, "&target_kind=secret", 100).await;
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0]["target"], "HOOK_TOKEN");
    let (of_member, _) = every_entry(&admin, &format!("&actor={member_id}"), 100).await;
    assert_eq!(of_member.len(), 3);
    let (of_automation, _) = every_entry(&admin, &format!("&target={id}"), 100).await;
    assert_eq!(of_automation.len(), 3);
}

#[tokio::test]
async fn the_cursor_reaches_every_entry_once_and_bad_input_is_a_400() {
    let server = Server::fast();
    let admin = server.admin();
    for n in 0..23 {
        put_secret(&admin, &format!("S{n}"), "value-of-some-length").await;
    }
    let (entries, pages) = every_entry(&admin, "&target_kind=secret", 5).await;
    assert_eq!(pages, 5);
    let targets: HashSet<&str> = entries
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(entries.len(), 23);
    assert_eq!(targets.len(), 23, "each entry once");
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Time bounds, to the millisecond: an empty window, and one that holds everything.
    let first_at = entries.last().unwrap()["at"].as_str().unwrap();
    let (before, _) = every_entry(&admin, &format!("&until={first_at}"), 100).await;
    assert!(before.is_empty(), "{before:?}");
    let (since, _) = every_entry(
        &admin,
        &format!("&since={first_at}&target_kind=secret"),
        100,
    )
    .await;
    assert_eq!(since.len(), 23);

    for bad in [
        "cursor=not-a-cursor",
        "action=automation.exploded",
        "target_kind=spaceship",
        "since=yesterday",
        "limit=-1",
        "color=blue",
    ] {
        let (status, body) = admin
            .get(&format!("/v1/entities/default/audit?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
    // Another entity's log is not there.
    let (status, _) = admin.get("/v1/entities/elsewhere/audit").await;
    assert!(status == 403 || status == 404, "{status}");
}

#[tokio::test]
async fn the_command_line_shows_the_log_and_follows_every_page() {
    let server = Server::fast();
    let admin = server.admin();
    for n in 0..4 {
        put_secret(&admin, &format!("CLI{n}"), "value-of-some-length").await;
    }
    let url = server.url.clone();
    let output = herald(&[
        "--url",
        &url,
        "--key",
        ADMIN_KEY,
        "audit",
        "--target-kind",
        "secret",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("secret.set") && table.contains("CLI3"),
        "{table}"
    );
    assert!(table.contains("admin"), "{table}");

    let output = herald(&[
        "--url", &url, "--key", ADMIN_KEY, "--json", "audit", "--limit", "1", "--all",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let all: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(all["entries"].as_array().unwrap().len(), 4, "{all}");
}
