//! An event's page says why each automation listening for its type fired or not, as the API's
//! explanation does.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_page_says_what_stopped_each_automation() {
    let server = Server::ingest_only();
    let admin = server.admin();
    for (name, project) in [("on-train", "train"), ("on-eval", "eval")] {
        let body = json!({"name": name, "scope": {"type": "project", "project": project},
                          "event": {"type": "RUN_STATE"}, "action": {"type": "no-op"}});
        crate::common::create_automation(&admin, body).await;
    }
    let event = json!({"type": "RUN_STATE", "entity": "default", "project": "train",
                       "run_id": "r1", "state": "FAILED"});
    let event_id = crate::common::post_event(&admin, &event).await;

    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto(&format!("/#/events/{event_id}")).await;
    page.until_text("Why it fired (or not)").await;
    let rows: Vec<Vec<String>> = page
        .eval(
            "[...document.querySelector('#why ~ .table-wrap, #why ~ table')?.querySelectorAll('tbody tr') ?? []]
               .map(r => [...r.cells].slice(0, 2).map(c => c.innerText.trim()))",
        )
        .await;
    assert_eq!(
        rows,
        [["on-train", "fired"], ["on-eval", "out of scope"]],
        "what fired first, then what stopped the rest"
    );
    assert!(page.text_of("main").await.contains("outside its scope"));
    page.screenshot("event-why").await;
    page.close().await;
}
