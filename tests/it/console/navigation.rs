//! Getting around the console: "Skip to content" moves the focus and nothing else, the wizard
//! shows Next until its last step and Create only there (Enter moves on), and a key revoked
//! mid-session lands on the sign-in page saying why, and an automation's page shows its filter,
//! condition and template and disables it.

use super::*;

/// Buttons labelled `label` that are rendered (not hidden).
const VISIBLE: &str = "(label => [...document.querySelectorAll('button')].filter(b => b.textContent.trim() === label && b.offsetParent !== null).length)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_links_wizard_buttons_and_a_revoked_session_behave() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/automations").await;
    page.until_text("New automation").await;

    // The skip link focuses the page and leaves the route alone.
    // As a keyboard user would follow it: focused, then activated.
    page.eval::<bool>("(document.querySelector('a.skip').focus(), document.querySelector('a.skip').click(), true)")
        .await;
    let (hash, focused): (String, String) = (
        page.eval("location.hash").await,
        page.eval("document.activeElement.id").await,
    );
    assert_eq!((hash.as_str(), focused.as_str()), ("#/automations", "main"));
    assert!(!page.text_of("main").await.contains("Not found"));

    // The wizard: Next until the last step, Create only there; submitting early moves on.
    page.goto("/#/automations/new").await;
    page.until_text("Next").await;
    let visible = |label: &str| format!("{VISIBLE}({})", serde_json::to_string(label).unwrap());
    assert_eq!(page.eval::<u32>(&visible("Create automation")).await, 0);
    assert_eq!(page.eval::<u32>(&visible("Next")).await, 1);
    let step = "document.querySelector('[aria-current=step]').innerText";
    let first: String = page.eval(step).await;
    page.eval::<bool>("(document.querySelector('main form').requestSubmit(), true)")
        .await;
    let second: String = page.eval(step).await;
    assert!(
        first.starts_with("1.") && second.starts_with("2."),
        "{first} → {second}"
    );
    let (_, listed) = admin.get("/v1/automations").await;
    assert_eq!(listed["automations"], json!([]), "nothing created early");
    for _ in 0..10 {
        if page.eval::<u32>(&visible("Next")).await == 0 {
            break;
        }
        page.click_text("Next").await;
    }
    assert_eq!(page.eval::<u32>(&visible("Next")).await, 0);
    assert_eq!(page.eval::<u32>(&visible("Create automation")).await, 1);
    page.close().await;

    // A member whose key is revoked mid-session is told so on the sign-in page.
    let key = expect_key(&admin).await;
    let page = Page::open(&server.url).await;
    page.sign_in(&key.1).await;
    let path = format!("/v1/entities/default/keys/{}", key.0);
    assert_eq!(admin.delete(&path).await.0, 204);
    page.goto("/#/history").await;
    page.until(
        "the session-ended message",
        "!!document.getElementById('session-ended')",
    )
    .await;
    let said = page.text_of("#session-ended").await;
    assert!(
        said.contains("Signed out") && said.contains("not valid"),
        "{said}"
    );
    assert!(page.text_of("main").await.contains("Sign in"));
    page.close().await;
}

/// A new member key: its id and the key.
async fn expect_key(admin: &crate::common::Api) -> (String, String) {
    let (status, created) = admin
        .post("/v1/entities/default/keys", &json!({"role": "member"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let text = |f: &str| created[f].as_str().unwrap().to_string();
    (text("id"), text("key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automation_page_shows_what_it_does_and_disables_it() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let body = json!({
        "name": "loss-watch", "scope": {"type": "project", "project": "train"},
        "event": {"type": "RUN_METRIC_THRESHOLD", "filter": {"run_name": {"$regex": "^nightly"}},
                  "metric": {"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt",
                             "value": 0.5}},
        "action": {"type": "no-op", "payload": {"text": "${metric_condition}"}}});
    let id = crate::common::create_automation(&admin, body).await;
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto(&format!("/#/automations/{id}")).await;
    let shown = page.text_of("main .card").await;
    for part in ["^nightly", "\"agg\": \"AVERAGE\"", "${metric_condition}"] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    page.click_text("Disable").await;
    page.until(
        "the page shown again, disabled",
        "document.getElementById('automation-enabled')?.innerText === 'no'",
    )
    .await;
    let (_, automation) = admin.get(&format!("/v1/automations/{id}")).await;
    assert_eq!(automation["enabled"], false);
    page.click_text("Enable").await;
    page.until(
        "enabled again",
        "document.getElementById('automation-enabled')?.innerText === 'yes'",
    )
    .await;
    page.close().await;
}
