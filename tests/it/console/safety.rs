//! Markup shown as text, forged requests that change nothing, and the launch and plugin pages.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_from_an_event_or_a_receiver_is_shown_as_text_and_runs_nothing() {
    let receiver = Receiver::start(|_, _| {
        (
            200,
            vec![("content-type", "text/html".into())],
            "<script>alert(2)</script><b>bold</b>".into(),
        )
    })
    .await;
    let server = Server::fast();
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    let author = "<img src=x onerror=alert(1)>";
    let (status, event) = admin
        .post(
            "/v1/events",
            &json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "r", "collection": "c",
                    "version": "v1", "author": author}),
        )
        .await;
    assert_eq!(status, 202, "{event}");
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto(&format!(
        "/#/events/{}",
        event["event_id"].as_str().unwrap()
    ))
    .await;
    page.until_text(author).await;
    let images: usize = page.eval("document.querySelectorAll('img').length").await;
    assert_eq!(images, 0, "the author became markup");

    page.goto("/#/integrations/ci").await;
    page.click_text("Send test").await;
    page.until_text("Receiver answered 200").await;
    assert_eq!(
        page.text_of(".test-result .response-body").await,
        "<script>alert(2)</script><b>bold</b>"
    );
    let bold: usize = page
        .eval("document.querySelectorAll('main b').length")
        .await;
    assert_eq!(bold, 0, "the receiver's body became markup");
    assert!(
        page.dialogs().is_empty(),
        "a script ran: {:?}",
        page.dialogs()
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_forged_from_another_origin_changes_nothing() {
    let server = Server::fast();
    let admin = server.admin();
    // A page on another port of the same host: the same site, so SameSite alone would let the
    // session cookie go with its requests.
    let target = server.url.clone();
    let evil = Receiver::start(move |_, _| {
        let html = format!(
            r#"<!doctype html><body>
<form id=f method=POST action="{target}/v1/events" enctype="text/plain">
<input name='{{"type":"LINK_ARTIFACT","entity":"default","registry":"r","collection":"c","version":"v1","x":"' value='"}}'>
</form>
<script>
fetch("{target}/v1/entities/default/secrets/FORGED", {{method: "PUT", credentials: "include",
  headers: {{"content-type": "application/json", "x-herald-console": "1"}}, body: '{{"value":"forged-value"}}'}})
  .catch(() => {{}})
  .finally(() => fetch("{target}/v1/automations/none", {{method: "DELETE", credentials: "include", mode: "no-cors"}}).catch(() => {{}}))
  .finally(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script></body>"#
        );
        (200, vec![("content-type", "text/html".into())], html)
    })
    .await;
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto(&evil.url("/evil")).await;
    // The form's answer replaces the page: Herald's refusal.
    page.until_text("refused a console session request").await;
    let metrics = crate::common::metrics_text(&server).await;
    assert!(
        metrics.contains("herald_events_ingested_total 0"),
        "{metrics}"
    );
    let (_, secrets) = admin.get("/v1/entities/default/secrets").await;
    assert_eq!(
        secrets["secrets"],
        json!([]),
        "a forged request set a secret"
    );

    // The refused requests are the hostile page's own errors, not the console's.
    page.forget_errors();

    // The console's own pages still work with the same session.
    page.goto("/#/secrets").await;
    page.until_text("Set a secret").await;

    // Every console page carries the policy.
    let response = reqwest::get(format!("{}/", server.url)).await.unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_queues_and_plugins_are_listed_with_their_details() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let (status, _) = admin
        .put(
            "/v1/entities/default/jobs/evaluate",
            &json!({"description": "evaluate a model", "command": ["sh", "-c", "true"], "config": {}}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = admin
        .post("/v1/entities/default/queues", &json!({"name": "gpu"}))
        .await;
    assert_eq!(status, 201);
    let (status, item) = admin
        .post(
            "/v1/entities/default/queues/gpu/items",
            &json!({"job": "evaluate", "project": "churn"}),
        )
        .await;
    assert_eq!(status, 201, "{item}");
    // An agent claims it and finishes it with some output.
    let agent_key = crate::common::agent_key(&admin, &["gpu"]).await;
    let agent = server.client(&agent_key);
    let (_, claimed) = agent
        .post(
            "/v1/entities/default/queues/gpu/claim",
            &json!({"agent": "gpu-box-1"}),
        )
        .await;
    let id = claimed["item"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{claimed}"));
    let lease = &claimed["lease_token"];
    let (status, _) = agent
        .post(
            &format!("/v1/entities/default/items/{id}/heartbeat"),
            &json!({"lease_token": lease, "started": true}),
        )
        .await;
    assert_eq!(status, 200);
    let output = format!("/v1/entities/default/items/{id}/output");
    let (status, _) = agent
        .post(
            &output,
            &json!({"lease_token": lease, "offset": 0, "text": "epoch 1\n"}),
        )
        .await;
    assert_eq!(status, 200);

    // The item's page shows the output so far and follows it while the job runs.
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto(&format!("/#/launch/items/{id}")).await;
    page.until_text("epoch 1").await;
    page.until_text("running").await;
    page.assert_labelled().await;
    let (status, _) = agent
        .post(
            &output,
            &json!({"lease_token": lease, "offset": 8, "text": "epoch 2\n"}),
        )
        .await;
    assert_eq!(status, 200);
    page.until_text("epoch 2").await;
    let (status, finished) = agent
        .post(
            &format!("/v1/entities/default/items/{id}/finish"),
            &json!({"lease_token": lease, "exit_code": 0, "output": "accuracy=0.93", "output_offset": 16}),
        )
        .await;
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["output"], "epoch 1\nepoch 2\naccuracy=0.93");
    page.until_text("accuracy=0.93").await;
    page.until_text("finished").await;
    page.screenshot("launch-item").await;

    page.goto("/#/launch").await;
    for shown in [
        "Queue gpu",
        "evaluate@1",
        "churn/",
        "finished",
        "accuracy=0.93",
    ] {
        page.until_text(shown).await;
    }
    // The agent that ran it, under Agents.
    let agent_row: Vec<String> = page
        .eval("[...document.querySelector('#agents-title ~ .table-wrap tbody tr').cells].map(c => c.innerText)")
        .await;
    assert_eq!(
        agent_row[..3],
        ["gpu-box-1", "gpu", "0 of 1"],
        "{agent_row:?}"
    );
    page.screenshot("launch").await;
    page.goto("/#/plugins").await;
    for shown in ["webhook", "slack", "github-dispatch", "launch-job"] {
        page.until_text(shown).await;
    }
    page.click("section[aria-label='Plugin github-dispatch'] summary")
        .await;
    page.until_text("event_type").await;
    page.screenshot("plugins").await;
    page.close().await;
}
