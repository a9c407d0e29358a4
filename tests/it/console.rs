//! The web console in a real headless Chromium against the real binary: the reference workflows
//! (secret, integration and its Test, the automation steps, an event, its execution, failure and
//! Retry), errors at their fields, what a member may see, markup shown as text, and requests
//! forged from another origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::browser::Page;
use crate::common::{ADMIN_KEY, Receiver, Server, create_integration, member_key, put_secret};

/// Waits on an execution page until its status is `status`, refreshing it as a person would.
async fn until_status(page: &Page, status: &str) {
    for _ in 0..200 {
        let shown = page.text_of("#execution-status").await;
        if shown.trim() == status {
            return;
        }
        page.click_text("Refresh").await;
        page.rendered().await;
    }
    panic!("the execution never became {status}");
}

/// Sends an alias event through the "Send an event" form; returns on the event's page.
async fn send_alias_event(page: &Page, version: &str) {
    page.goto("/#/send-event").await;
    page.choose("select[name=type]", "ADD_ARTIFACT_ALIAS").await;
    page.choose("select[name=place]", "registry").await;
    page.type_into("input[name=registry]", "model-registry")
        .await;
    page.type_into("input[name=collection]", "churn").await;
    page.type_into("input[name=version]", version).await;
    page.type_into("input[name=alias]", "production").await;
    page.click_text("Send event").await;
    page.until_text("it triggered 1 automation").await;
    page.click_text("See the event and its executions").await;
    page.until_text("Executions it triggered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_workflows_run_in_the_browser() {
    let failing = Arc::new(AtomicBool::new(false));
    let receiver = {
        let failing = failing.clone();
        Receiver::start(move |_, _| {
            if failing.load(Ordering::SeqCst) {
                (500, vec![], "down for maintenance".into())
            } else {
                (
                    200,
                    vec![("x-receiver", "ci".into())],
                    "{\"received\":true}".into(),
                )
            }
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let admin = server.admin();
    let page = Page::open(&server.url).await;

    // Sign in.
    page.goto("/").await;
    page.until_text("API key").await;
    page.screenshot("sign-in").await;
    page.sign_in(ADMIN_KEY).await;

    // A secret, through the write-only field.
    page.goto("/#/secrets").await;
    page.type_into("input[name=name]", "CI_TOKEN").await;
    page.type_into("input[name=value]", "tok-console-5f1e2d")
        .await;
    page.click_text("Save secret").await;
    page.until_text("CI_TOKEN created").await;
    page.until("the secret listed", "document.querySelector('table code')")
        .await;
    let listed: String = page.eval("document.querySelector('main').innerText").await;
    assert!(!listed.contains("tok-console-5f1e2d"), "{listed}");
    page.screenshot("secrets").await;

    // A webhook integration signed with it, then Test against the real receiver.
    page.goto("/#/integrations/new").await;
    page.type_into("input[name=name]", "ci").await;
    page.type_into("input[name=url]", &receiver.url("/hook"))
        .await;
    page.choose("select[name=signing_secret]", "CI_TOKEN").await;
    page.click_text("Create").await;
    page.until_text("Integration ci").await;
    page.paste_into(
        "textarea[name=payload]",
        r#"{"hello": "world", "token": "${CI_TOKEN}"}"#,
    )
    .await;
    page.click_text("Send test").await;
    page.until_text("Receiver answered 200").await;
    assert_eq!(
        page.text_of(".test-result .response-body").await,
        "{\"received\":true}"
    );
    let shown: String = page
        .eval("document.querySelector('.test-result').innerText")
        .await;
    assert!(shown.contains("x-receiver"), "{shown}");
    let arrived = receiver
        .wait_for(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(
        arrived[0].json(),
        json!({"hello": "world", "token": "tok-console-5f1e2d"})
    );
    assert!(!arrived[0].header("x-wandb-signature").is_empty());
    page.screenshot("integration-test").await;

    // An automation, step by step.
    page.goto("/#/automations/new").await;
    page.click("#event-type-ADD_ARTIFACT_ALIAS").await;
    page.click_text("Next").await;
    page.click("#scope-kind-registry").await;
    page.type_into("input[name=scope-registry]", "model-registry")
        .await;
    page.click_text("Next").await;
    page.type_into("input[name=filter-alias]", "^production$")
        .await;
    page.click_text("Next").await;
    page.until(
        "the integration offered",
        "document.querySelector('select[name=integration]').value === 'ci'",
    )
    .await;
    page.click_text("Next").await;
    page.until_text("${event_author}").await;
    page.paste_into(
        "textarea[name=payload]",
        r#"{"model": "${artifact_version_string}", "alias": "${alias}", "by": "${event_author}"}"#,
    )
    .await;
    page.click_text("Next").await;
    page.type_into("input[name=name]", "deploy-on-production")
        .await;
    page.type_into("input[name=description]", "Starts the deploy pipeline")
        .await;
    page.screenshot("automation-steps").await;
    page.click_text("Create automation").await;
    page.until(
        "the new automation's page",
        "document.querySelector('main h1').innerText === 'deploy-on-production'",
    )
    .await;
    let (_, listed) = admin.get("/v1/automations").await;
    let automation = &listed["automations"][0];
    assert_eq!(automation["name"], "deploy-on-production");
    assert_eq!(
        automation["scope"],
        json!({"type": "registry", "registry": "model-registry"})
    );
    assert_eq!(
        automation["event"]["filter"],
        json!({"alias": {"$regex": "^production$"}})
    );
    assert_eq!(automation["action"]["integration"], "ci");
    let id = automation["id"].as_str().unwrap().to_string();

    // Edited: the steps come back filled in; only what changed changes.
    page.goto(&format!("/#/automations/{id}/edit")).await;
    page.click_text("6. Name").await;
    page.type_into(
        "input[name=description]",
        "Deploys what is promoted to production",
    )
    .await;
    page.click_text("Save").await;
    page.until(
        "the automation's page again",
        "document.querySelector('main h1').innerText === 'deploy-on-production' && !location.hash.endsWith('/edit')",
    )
    .await;
    let (_, edited) = admin.get(&format!("/v1/automations/{id}")).await;
    assert_eq!(
        edited["description"],
        "Deploys what is promoted to production"
    );
    assert_eq!(edited["event"], automation["event"]);
    assert_eq!(edited["action"], automation["action"]);
    assert_eq!(edited["scope"], automation["scope"]);

    // An event from the form; its execution succeeds, with its attempt.
    send_alias_event(&page, "v3").await;
    page.click("main table a[href^='#/executions/']").await;
    until_status(&page, "succeeded").await;
    page.until_text("Attempt 1").await;
    assert_eq!(page.text_of(".attempt .response-status").await, "200");
    let body = receiver
        .wait_for(2, std::time::Duration::from_secs(5))
        .await[1]
        .json();
    assert_eq!(
        body,
        json!({"model": "default/model-registry/churn:production", "alias": "production", "by": ""})
    );
    page.screenshot("execution").await;

    // The receiver fails: the execution fails; Retry once it is back, and it succeeds.
    failing.store(true, Ordering::SeqCst);
    send_alias_event(&page, "v4").await;
    page.click("main table a[href^='#/executions/']").await;
    until_status(&page, "failed").await;
    page.until_text("down for maintenance").await;
    failing.store(false, Ordering::SeqCst);
    page.click_text("Retry").await;
    page.rendered().await;
    until_status(&page, "succeeded").await;

    // The history, filtered by status.
    page.goto("/#/history").await;
    page.until(
        "two executions",
        "document.querySelectorAll('main tbody tr').length === 2",
    )
    .await;
    page.choose("select[name=status]", "failed").await;
    page.click_text("Show").await;
    page.until_text("No executions.").await;
    page.choose("select[name=status]", "succeeded").await;
    page.click_text("Show").await;
    page.until(
        "two succeeded",
        "document.querySelectorAll('main tbody tr').length === 2",
    )
    .await;
    page.screenshot("history").await;

    // The automations of the registry: disable, then delete with confirmation.
    page.goto("/#/automations").await;
    page.type_into("input[name=project]", "model-registry")
        .await;
    page.click_text("Filter").await;
    page.until_text("deploy-on-production").await;
    for column in ["ADD_ARTIFACT_ALIAS", "webhook", "ci"] {
        page.until_text(column).await;
    }
    page.screenshot("automations").await;
    page.click("input[aria-label='deploy-on-production enabled']")
        .await;
    page.until_text("deploy-on-production disabled").await;
    assert_eq!(
        admin.get(&format!("/v1/automations/{id}")).await.1["enabled"],
        false
    );
    page.click_text("Delete").await;
    page.until("the confirmation", "document.querySelector('dialog[open]')")
        .await;
    page.click("dialog button[value=confirm]").await;
    page.until_text("No automations here yet.").await;
    assert_eq!(admin.get(&format!("/v1/automations/{id}")).await.0, 404);

    // Sign out: the session is gone.
    page.click_text("Sign out").await;
    page.until_text("API key").await;
    page.goto("/#/automations").await;
    page.until(
        "the sign-in form",
        "document.querySelector('input[name=key]')",
    )
    .await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_regex_and_an_unknown_variable_show_the_servers_message_at_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let admin = server.admin();
    create_integration(
        &admin,
        json!({"name": "ci", "kind": "webhook", "url": "http://127.0.0.1:9/x"}),
    )
    .await;
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/automations/new").await;
    page.click("#event-type-ADD_ARTIFACT_ALIAS").await;
    page.click_text("Next").await;
    page.click_text("Next").await;
    page.type_into("input[name=filter-alias]", "prod((").await;
    page.click_text("Next").await;
    page.click_text("Next").await;
    page.paste_into("textarea[name=payload]", r#"{"who": "${nobody_knows}"}"#)
        .await;
    page.click_text("Next").await;
    page.type_into("input[name=name]", "bad-one").await;
    page.click_text("Create automation").await;

    // The regex: the wizard goes back to the filter step and shows the message under the field.
    let at_regex = "(() => { const f = document.querySelector('input[name=filter-alias]').closest('.field'); \
                    return f.offsetParent !== null && f.querySelector('.error').innerText; })()";
    page.until("the regex error at its field", at_regex).await;
    let message: String = page.eval(at_regex).await;
    assert!(
        message.contains("event.filter") && message.contains("regex"),
        "{message}"
    );
    let invalid: Option<String> = page
        .eval("document.querySelector('input[name=filter-alias]').getAttribute('aria-invalid')")
        .await;
    assert_eq!(invalid.as_deref(), Some("true"));
    page.screenshot("field-error").await;

    // Mended, the next error is the template's, at the payload.
    page.type_into("input[name=filter-alias]", "^prod$").await;
    page.click_text("6. Name").await;
    page.click_text("Create automation").await;
    let at_payload = "(() => { const f = document.querySelector('textarea[name=payload]').closest('.field'); \
                      return f.offsetParent !== null && f.querySelector('.error').innerText; })()";
    page.until("the template error at its field", at_payload)
        .await;
    let message: String = page.eval(at_payload).await;
    assert!(
        message.contains("action.payload") && message.contains("nobody_knows"),
        "{message}"
    );
    assert_eq!(
        admin.get("/v1/automations").await.1["automations"],
        json!([])
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_no_secret_management_and_cannot_reach_it_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
    let admin = server.admin();
    put_secret(&admin, "HIDDEN_NAME", "value-never-shown").await;
    let key = member_key(&admin, "console").await;
    let page = Page::open(&server.url).await;
    page.sign_in(&key).await;
    page.until_text("default · member").await;
    let nav: String = page
        .eval("document.querySelector('header nav').innerText")
        .await;
    assert!(!nav.contains("Secrets"), "{nav}");
    page.goto("/#/secrets").await;
    page.until_text("Only admins manage secrets").await;
    let text: String = page.eval("document.querySelector('main').innerText").await;
    assert!(!text.contains("HIDDEN_NAME"), "{text}");
    let form: bool = page
        .eval("!!document.querySelector('input[name=value]')")
        .await;
    assert!(!form, "a member is offered a secret form");
    page.goto("/#/integrations").await;
    page.until_text("Integrations").await;
    let offered: bool = page
        .eval("[...document.querySelectorAll('a')].some(a => a.innerText === 'New integration')")
        .await;
    assert!(!offered, "a member is offered to create integrations");

    // An integration's secrets and grants are shown to a member by name, read-only.
    put_secret(&admin, "SIGN_NAME", "sign-value-never-shown").await;
    put_secret(&admin, "FOOTER", "footer-value-never-shown").await;
    create_integration(
        &admin,
        json!({"name": "hook", "kind": "webhook", "url": "https://hook.example.com/",
               "signing_secret": "SIGN_NAME", "secrets": ["FOOTER"]}),
    )
    .await;
    page.goto("/#/integrations/hook").await;
    page.until_text("Integration hook").await;
    let shown: Value = page
        .eval(
            "({signing: document.querySelector('select[name=signing_secret]').value,
               granted: [...document.querySelectorAll('input[name=secrets]')].map(b => [b.value, b.checked, b.disabled])})",
        )
        .await;
    assert_eq!(
        shown,
        json!({"signing": "SIGN_NAME", "granted": [["FOOTER", true, true]]})
    );
    let text: String = page.eval("document.querySelector('main').innerText").await;
    assert!(
        !text.contains("never-shown") && !text.contains("HIDDEN_NAME"),
        "{text}"
    );
    page.close().await;

    // An admin grants another secret with a checkbox.
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/integrations/hook").await;
    page.until_text("Integration hook").await;
    page.click("input[name=secrets][value=HIDDEN_NAME]").await;
    page.click_text("Save").await;
    page.until_text("Saved").await;
    let (_, hook) = admin.get("/v1/entities/default/integrations/hook").await;
    assert_eq!(hook["secrets"], json!(["FOOTER", "HIDDEN_NAME"]));
    page.close().await;
}

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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_fast(&dir.path().join("data"));
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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_ingest_only(&dir.path().join("data"));
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
    page.screenshot("launch").await;
    page.goto("/#/plugins").await;
    for shown in ["webhook", "slack", "github-dispatch", "launch-job"] {
        page.until_text(shown).await;
    }
    page.click("section[aria-label='Plugin github-dispatch'] summary")
        .await;
    page.until_text("event_type").await;
    page.screenshot("plugins").await;
    // Every main page labels its controls.
    for route in [
        "/#/automations",
        "/#/history",
        "/#/integrations/new",
        "/#/secrets",
        "/#/send-event",
    ] {
        page.goto(route).await;
        page.assert_labelled().await;
    }
    page.goto("/#/automations/new").await;
    for step in [
        "1. Event",
        "2. Scope",
        "3. Filter",
        "4. Action",
        "5. Payload",
        "6. Name",
    ] {
        page.click_text(step).await;
        page.assert_labelled().await;
    }
    page.close().await;
}
