//! The History page over 10,000 executions: the pager reaches the oldest with the keyboard
//! (the focus stays on Older), the list narrows to one automation, and Find goes straight to an
//! execution or an event by its id.

use super::*;
use crate::common::INGEST_ONLY_CONFIG;

/// Executions in the entity: one per LINK_ARTIFACT event.
const EXECUTIONS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_reaches_the_oldest_of_ten_thousand_and_finds_by_id() {
    // Nothing is delivered, and 10,000 due executions are not past the backlog's bound.
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{INGEST_ONLY_CONFIG}max_backlog = 0\n");
    let env = [("HERALD_BOOTSTRAP_KEY", ADMIN_KEY)];
    let server = Server::start_with(&dir.path().join("data"), &config, &env, &[]);
    let admin = server.admin();
    let hook = "https://ci.example.com/hook";
    let links = json!({"type": "webhook"});
    let deploy = crate::common::automation_on_links(&admin, "deploy", hook, links).await;
    for batch in 0..EXECUTIONS / 1000 {
        let events: Vec<Value> = (0..1000)
            .map(|i| {
                json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                       "collection": "churn", "version": format!("v{}", batch * 1000 + i)})
            })
            .collect();
        let posted = admin
            .post("/v1/events/batch", &json!({"events": events}))
            .await;
        expect_status(&posted, 202);
    }
    let body = json!({"name": "on-aliases", "scope": {"type": "entity"},
                      "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "no-op"}});
    crate::common::create_automation(&admin, body).await;
    let alias = json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "default", "registry": "models",
                       "collection": "churn", "version": "v1", "alias": "production"});
    let alias_event = crate::common::post_event(&admin, &alias).await;
    // The oldest execution, as the API's own pages end.
    let mut cursor = String::new();
    let oldest = loop {
        let (_, page) = admin
            .get(&format!("/v1/executions?limit=1000{cursor}"))
            .await;
        if page["has_more"] == false {
            let rows = page["executions"].as_array().unwrap();
            break rows.last().unwrap()["id"].as_str().unwrap().to_string();
        }
        cursor = format!("&cursor={}", page["next_cursor"].as_str().unwrap());
    };

    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/history").await;
    page.until_text("Page 1").await;
    let rows = "document.querySelectorAll('main tbody tr').length";
    assert_eq!(page.eval::<u32>(rows).await, 100);
    page.choose("select[name=per-page]", "1000").await;
    page.until("1,000 rows", &format!("{rows} === 1000")).await;
    // Older, then Enter on it while it keeps the focus, to the last page.
    page.click_text("Older").await;
    page.until_text("Page 2").await;
    // 10,001 executions with the alias automation's: 11 pages.
    for number in 3..=EXECUTIONS / 1000 + 1 {
        let focused: String = page.eval("document.activeElement.innerText").await;
        assert_eq!(focused, "Older", "the focus stays on Older");
        page.press("Enter").await;
        page.until_text(&format!("Page {number}")).await;
    }
    page.until_text("(the oldest)").await;
    let last: String = page
        .eval("[...document.querySelectorAll('main tbody tr')].pop().querySelector('a').innerText")
        .await;
    assert_eq!(
        last, oldest,
        "the last row of the last page is the oldest execution"
    );

    // Narrowed to one automation: deploy's executions, not the alias automation's.
    page.type_into("input[name=automation]", &deploy).await;
    page.click_text("Show").await;
    page.until(
        "the first page again",
        "document.querySelector('.pager [role=status]').innerText === 'Page 1'",
    )
    .await;
    let names: Vec<String> = page
        .eval("[...document.querySelectorAll('main tbody tr')].map(r => r.cells[1].innerText)")
        .await;
    assert!(names.iter().all(|n| n == "deploy"), "{names:?}");

    // Find: an event by its id.
    page.type_into("input[name=find]", &alias_event).await;
    page.click_text("Find").await;
    page.until_text("Why it fired (or not)").await;
    assert_eq!(
        page.eval::<String>("location.hash").await,
        format!("#/events/{alias_event}")
    );
    page.goto("/#/history").await;
    page.type_into("input[name=find]", "0190a0a0-0000-7000-8000-000000000000")
        .await;
    page.click_text("Find").await;
    page.until_text("No execution or event has the id").await;
    page.close().await;
}
