//! The console's audit log page: admins see who changed what, filter it by action and page
//! through it; members are not offered it.

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_who_changed_what_and_pages_through_the_log() {
    let server = Server::ingest_only();
    let admin = server.admin();
    for n in 0..101 {
        put_secret(&admin, &format!("S{n}"), "value-of-some-length").await;
    }
    let key = member_key(&admin, "ml-engineer").await;
    let member = server.client(&key);
    let (_, me) = member.get("/v1/me").await;
    let member_id = me["key_id"].as_str().unwrap().to_string();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "https://ci.example.com/hook"}),
    )
    .await;
    let (status, automation) = member
        .post(
            "/v1/automations",
            &json!({"name": "notify", "scope": {"type": "entity"},
                    "event": {"type": "LINK_ARTIFACT"},
                    "action": {"type": "webhook", "integration": "ci"}}),
        )
        .await;
    assert_eq!(status, 201, "{automation}");
    let id = automation["id"].as_str().unwrap();
    let (status, _) = member
        .patch(
            &format!("/v1/automations/{id}"),
            &json!({"description": "pages the on-call"}),
        )
        .await;
    assert_eq!(status, 200);

    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/audit").await;
    page.until_text("Page 1").await;
    let rows = "document.querySelectorAll('main tbody tr').length";
    assert_eq!(page.eval::<u32>(rows).await, 100);
    page.click_text("Older").await;
    page.until_text("Page 2").await;
    // 101 secrets, a key, an integration, an automation created and edited: 105.
    assert_eq!(page.eval::<u32>(rows).await, 5);

    // The action list is the API's; the member's edit shows who and which fields changed.
    page.choose("select[name=action]", "automation.updated")
        .await;
    page.click_text("Show").await;
    page.until(
        "only the automation's edit listed",
        "[...document.querySelectorAll('main tbody tr')].map(r => r.querySelector('.audit-action')?.innerText).join() === 'automation.updated'",
    )
    .await;
    let row = page.text_of("main tbody tr").await;
    assert!(row.contains(&member_id), "{row}");
    assert!(
        row.contains("member") && row.contains("description"),
        "{row}"
    );
    page.assert_labelled().await;
    page.screenshot("audit-log").await;
    page.close().await;

    // A member is not offered the page, and the API would refuse it.
    let page = Page::open(&server.url).await;
    page.sign_in(&key).await;
    page.until_text("Automations").await;
    let offered: bool = page
        .eval("[...document.querySelectorAll('nav a')].some(a => a.innerText === 'Audit')")
        .await;
    assert!(!offered, "a member is offered the audit log");
    page.close().await;
}
