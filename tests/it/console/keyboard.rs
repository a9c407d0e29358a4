//! An automation created with the keyboard alone, through the pickers: the job, its version and
//! the queue are chosen from what the entity has, the variable chips are one Tab stop, and the
//! whole walk takes a bounded number of Tab presses.

use super::*;

/// A focused element's button text or `name`.
fn named(name: &str) -> String {
    let name = serde_json::to_string(name).unwrap();
    format!(
        "(e => e.getAttribute('name') === {name} || (e.tagName === 'BUTTON' && e.textContent.trim() === {name}))"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automation_is_created_with_the_keyboard_alone() {
    let server = Server::ingest_only();
    let admin = server.admin();
    for description in ["first", "second"] {
        let job = json!({"description": description, "command": ["sh", "-c", "true"],
                         "config": {"model": "none"}});
        let (status, _) = admin.put("/v1/entities/default/jobs/evaluate", &job).await;
        assert_eq!(status, 201);
    }
    for queue in ["cpu", "gpu"] {
        let (status, _) = admin
            .post("/v1/entities/default/queues", &json!({"name": queue}))
            .await;
        assert_eq!(status, 201);
    }

    let page = Page::open(&server.url).await;
    page.sign_in(ADMIN_KEY).await;
    page.goto("/#/automations/new").await;
    page.until(
        "the first event focused",
        "document.activeElement.name === 'event-type'",
    )
    .await;
    let mut tabs = 0;
    // 1. Event: LINK_ARTIFACT, the first, is chosen.
    tabs += page.tab_until("Next", &named("Next")).await;
    page.press("Enter").await;
    // 2. Scope: a registry (the radio after "entity"), its name typed.
    page.until(
        "the scope focused",
        "document.activeElement.name === 'scope-kind'",
    )
    .await;
    page.press("ArrowDown").await;
    page.until(
        "the registry chosen",
        "document.querySelector('input[name=scope-kind]:checked').value === 'registry'",
    )
    .await;
    tabs += page
        .tab_until("the registry", &named("scope-registry"))
        .await;
    page.keys("models").await;
    tabs += page.tab_until("Next", &named("Next")).await;
    page.press("Enter").await;
    // 3. Filter: none.
    tabs += page.tab_until("Next", &named("Next")).await;
    page.press("Enter").await;
    // 4. Action: launch-job, typed into its select; then the queue, the job, its version.
    page.until(
        "the action focused",
        "document.activeElement.name === 'action-type'",
    )
    .await;
    page.keys("launch").await;
    page.until(
        "the launch-job form",
        "document.querySelector('select[name=config-queue] option[value=gpu]') && document.querySelector('select[name=config-job] option[value=evaluate]')",
    )
    .await;
    tabs += page.tab_until("the queue", &named("config-queue")).await;
    page.keys("gpu").await;
    tabs += page.tab_until("the job", &named("config-job")).await;
    page.keys("evaluate").await;
    page.until(
        "the job's versions",
        "document.querySelector('select[name=config-job-version] option[value=\"1\"]')",
    )
    .await;
    tabs += page
        .tab_until("the version", &named("config-job-version"))
        .await;
    page.press("ArrowDown").await;
    page.screenshot("automation-launch-action").await;
    tabs += page.tab_until("Next", &named("Next")).await;
    page.press("Enter").await;
    // 5. Payload: only the variables a LINK_ARTIFACT event sets are offered, and the chips
    // are one stop on the way to Next.
    let chips: Vec<String> = page
        .eval("[...document.querySelectorAll('.variables button')].map(b => b.textContent)")
        .await;
    for offered in [
        "${artifact_version}",
        "${event_id}",
        "${artifact_metadata.KEY}",
    ] {
        assert!(chips.iter().any(|c| c == offered), "{offered} in {chips:?}");
    }
    for withheld in [
        "${run_id}",
        "${alias}",
        "${metric_value}",
        "${integration_name}",
    ] {
        assert!(
            !chips.iter().any(|c| c == withheld),
            "{withheld} in {chips:?}"
        );
    }
    let chips_before = tabs;
    tabs += page.tab_until("Next", &named("Next")).await;
    assert!(
        tabs - chips_before <= 4,
        "the payload step takes {} presses",
        tabs - chips_before
    );
    page.press("Enter").await;
    // 6. Name, then Create.
    page.until("the name focused", "document.activeElement.name === 'name'")
        .await;
    page.keys("nightly-eval").await;
    tabs += page
        .tab_until("Create automation", &named("Create automation"))
        .await;
    page.press("Enter").await;
    page.until_text("nightly-eval").await;
    page.until(
        "the automation's page",
        "location.hash.startsWith('#/automations/aut_')",
    )
    .await;

    let (_, listed) = admin.get("/v1/automations").await;
    let created = &listed["automations"][0];
    assert_eq!(created["name"], "nightly-eval");
    assert_eq!(
        created["scope"],
        json!({"type": "registry", "registry": "models"})
    );
    assert_eq!(
        created["action"]["config"],
        json!({"queue": "gpu", "job": "evaluate@1"}),
        "the queue, the job and its first version, as picked"
    );
    eprintln!("creating an automation with the keyboard took {tabs} presses of Tab");
    assert!(tabs <= 30, "creating it took {tabs} presses of Tab");
    page.close().await;
}
