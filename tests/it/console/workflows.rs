//! The reference workflows, server messages shown at their field, and what a member sees.

use super::*;

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
    let server = Server::fast();
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
    let server = Server::fast();
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
    let server = Server::fast();
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
    // Its health too, without the admins' buttons.
    assert_eq!(page.text_of(".health .status-enabled").await, "enabled");
    let buttons: bool = page
        .eval("!!document.querySelector('.health button')")
        .await;
    assert!(!buttons, "a member is offered to disable an integration");
    // What a member may not do is said, not just left out.
    let reasons: Vec<String> = page
        .eval("[...document.querySelectorAll('.admins-only')].map(p => p.innerText)")
        .await;
    for what in [
        "Disabling, enabling and recovering",
        "Changing an integration",
        "Testing or deleting",
    ] {
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with(what) && r.contains("only admins may")),
            "{what}: {reasons:#?}"
        );
    }
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
async fn an_admin_sees_an_integrations_health_disables_it_and_enables_it_again() {
    let receiver = Receiver::ok().await;
    let server = Server::fast();
    let admin = server.admin();
    let action = json!({"type": "webhook"});
    crate::common::automation_on_links(&admin, "deploy", &receiver.url("/ci"), action).await;
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/integrations/ci").await;
    page.until_text("Integration ci").await;
    assert_eq!(page.text_of(".health .status-enabled").await, "enabled");
    page.click_text("Disable").await;
    page.until_text("Disabled: its executions are held").await;
    page.until(
        "the disabled state",
        "document.querySelector('.health .status-disabled')?.innerText === 'disabled'",
    )
    .await;

    // What comes for it meanwhile is held, and the list says how much.
    let event = json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                       "collection": "churn", "version": "v1"});
    let event_id = crate::common::post_event(&admin, &event).await;
    let path = format!("/v1/events/{event_id}");
    crate::common::eventually(
        std::time::Duration::from_secs(10),
        "the execution held",
        async || {
            let (_, event) = admin.get(&path).await;
            match event["executions"][0]["status"].as_str() {
                Some("held") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    page.goto("/#/integrations").await;
    page.until_text("disabled · 1 held").await;
    assert!(receiver.requests().is_empty());

    page.goto("/#/integrations/ci").await;
    page.click_text("Enable and deliver held").await;
    page.until_text("Enabled: held executions are due").await;
    receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    page.until(
        "the enabled state",
        "document.querySelector('.health .status-enabled')?.innerText === 'enabled'",
    )
    .await;
    // Recover: a task over the last hour, followed to its end (nothing failed to send again).
    page.eval::<bool>(
        "(() => { const at = new Date(Date.now() - 3600e3); at.setMinutes(at.getMinutes() - at.getTimezoneOffset());
                  document.querySelector('input[name=since]').value = at.toISOString().slice(0, 16); return true; })()",
    )
    .await;
    page.click_text("Recover").await;
    page.until_text("succeeded: 0 executions queued again.")
        .await;
    let (_, tasks) = admin.get("/v1/tasks").await;
    assert_eq!(tasks["tasks"][0]["kind"], "recover", "{tasks}");
    page.screenshot("integration-health").await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_page_lists_filters_and_pages() {
    let server = Server::ingest_only();
    let admin = server.admin();
    let mut events: Vec<Value> = (0..120)
        .map(|i| {
            json!({"type": "LINK_ARTIFACT", "entity": "default", "registry": "models",
                   "collection": "churn", "version": format!("v{i}")})
        })
        .collect();
    events.push(
        json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "default", "registry": "models",
                       "collection": "churn", "version": "v7", "alias": "production"}),
    );
    let posted = admin
        .post("/v1/events/batch", &json!({"events": events}))
        .await;
    assert_eq!(posted.0, 202);
    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/events").await;
    page.until_text("Page 1").await;
    let rows = "document.querySelectorAll('main tbody tr').length";
    assert_eq!(page.eval::<u32>(rows).await, 100);
    page.click_text("Older").await;
    page.until_text("Page 2").await;
    assert_eq!(page.eval::<u32>(rows).await, 21);
    // The types offered are the API's own, operational ones included.
    page.choose("select[name=type]", "ADD_ARTIFACT_ALIAS").await;
    page.click_text("Show").await;
    page.until(
        "only the alias event listed",
        "document.querySelectorAll('main tbody tr').length === 1",
    )
    .await;
    let offered: bool = page
        .eval("[...document.querySelectorAll('select[name=type] option')].some(o => o.value === 'INTEGRATION_DISABLED')")
        .await;
    assert!(offered);
    // Its row leads to the event's page.
    page.click("main tbody tr a").await;
    page.until_text("What was posted").await;
    page.close().await;
}
