//! The console's operations pages: the audit log (admins see who changed what, filter it by
//! action and page through it; members are not offered it), and a bulk retry started from the
//! history and followed to its end.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_retry_from_the_history_sends_the_failed_again() {
    let up = Arc::new(AtomicBool::new(false));
    let receiver = {
        let up = up.clone();
        Receiver::start(move |_, _| {
            let status = if up.load(Ordering::SeqCst) { 200 } else { 503 };
            (status, vec![], "".into())
        })
        .await
    };
    let server = Server::fast();
    let admin = server.admin();
    crate::common::automation_on_links(
        &admin,
        "deploy",
        &receiver.url("/hook"),
        json!({"type": "webhook"}),
    )
    .await;
    for version in ["v1", "v2", "v3"] {
        let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                           "collection": "churn", "version": version});
        crate::common::post_event(&admin, &event).await;
    }
    // Each fails for good: 3 attempts (the fast schedule has two retries).
    receiver
        .wait_for(9, std::time::Duration::from_secs(20))
        .await;
    crate::common::eventually(
        std::time::Duration::from_secs(10),
        "three failed",
        async || {
            let (_, failed) = admin.get("/v1/executions?status=failed").await;
            let n = failed["executions"].as_array().map_or(0, Vec::len);
            if n == 3 { Ok(()) } else { Err(n.to_string()) }
        },
    )
    .await;
    up.store(true, Ordering::SeqCst);

    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/history").await;
    page.until_text("Page 1").await;
    // Without a window the retry says what it needs.
    page.click_text("Retry these").await;
    page.until_text("Choose “Created from” first").await;
    page.eval::<bool>(
        "(() => { const d = new Date(Date.now() - 3600e3), p = n => String(n).padStart(2, '0');
           const e = document.querySelector('input[name=since]');
           e.value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
           return true; })()",
    )
    .await;
    page.choose("select[name=status]", "failed").await;
    page.click_text("Retry these").await;
    page.until_text("succeeded: 3 executions queued again.")
        .await;
    crate::common::eventually(
        std::time::Duration::from_secs(10),
        "three succeeded",
        async || {
            let (_, done) = admin.get("/v1/executions?status=succeeded").await;
            let n = done["executions"].as_array().map_or(0, Vec::len);
            if n == 3 { Ok(()) } else { Err(n.to_string()) }
        },
    )
    .await;
    let (_, log) = admin
        .get("/v1/entities/default/audit?action=executions.retried")
        .await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 1, "{log}");
    page.close().await;
}
