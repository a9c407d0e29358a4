//! Every page state of the console, for an admin and for a member: axe-core finds no violation
//! (WCAG 2.x A and AA, contrast included), and at 375 px wide no page scrolls sideways (a wide
//! table scrolls inside its own area).

use super::*;

/// An entity with something on every page: a secret, an integration whose receiver fails, an
/// automation with a filter, template and rate limit, a metric automation, events and their
/// executions (one failed, with attempts), a queue with a finished item, a member key.
async fn furnished(server: &Server, receiver: &Receiver) -> (String, String, String, String) {
    let admin = server.admin();
    put_secret(&admin, "CI_TOKEN", "tok-a11y").await;
    let integration = json!({"name": "ci", "kind": "webhook", "url": receiver.url("/hook"),
                             "signing_secret": "CI_TOKEN"});
    create_integration(&admin, integration).await;
    let automation = json!({
        "name": "promote", "description": "deploy what is promoted",
        "scope": {"type": "registry", "registry": "models"},
        "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "production"}},
        "action": {"type": "webhook", "integration": "ci",
                   "payload": {"version": "${artifact_version_string}"}},
        "rate_limit": {"max": 100, "per_seconds": 60}});
    let automation = crate::common::create_automation(&admin, automation).await;
    let metric = json!({
        "name": "loss-high", "scope": {"type": "project", "project": "train"},
        "event": {"type": "RUN_METRIC_THRESHOLD",
                  "metric": {"name": "loss", "window": 3, "agg": "AVERAGE", "cmp": "$gt",
                             "value": 0.5}},
        "action": {"type": "no-op"}});
    crate::common::create_automation(&admin, metric).await;
    let event = json!({"type": "ADD_ARTIFACT_ALIAS", "entity": "default", "registry": "models",
                       "collection": "churn", "version": "v3", "alias": "production"});
    let event = crate::common::post_event(&admin, &event).await;
    let (_, detail) = admin.get(&format!("/v1/events/{event}")).await;
    let execution = detail["executions"][0]["id"].as_str().unwrap().to_string();
    crate::common::eventually(
        std::time::Duration::from_secs(20),
        "an attempt that failed",
        async || {
            let (_, e) = admin.get(&format!("/v1/executions/{execution}")).await;
            match e["attempts"].as_i64() {
                Some(n) if n > 0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let job = json!({"description": "evaluate a model", "command": ["sh", "-c", "true"],
                     "config": {}});
    expect_status(
        &admin.put("/v1/entities/default/jobs/evaluate", &job).await,
        201,
    );
    let queue = json!({"name": "gpu"});
    expect_status(
        &admin.post("/v1/entities/default/queues", &queue).await,
        201,
    );
    let item = json!({"job": "evaluate", "project": "churn"});
    let path = "/v1/entities/default/queues/gpu/items";
    let item = expect_status(&admin.post(path, &item).await, 201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    (automation, event, execution, item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_state_passes_axe_and_fits_a_phone() {
    let receiver = Receiver::start(|_, _| (500, vec![], "down".into())).await;
    let server = Server::fast();
    let (automation, event, execution, item) = furnished(&server, &receiver).await;
    let admin = server.admin();
    let member = member_key(&admin, "a11y member").await;

    let mut found = Vec::new();
    let page = Page::open(&server.url).await;
    page.goto("/").await;
    page.until_text("API key").await;
    check(&page, "the sign-in page", &mut found).await;
    page.sign_in(ADMIN_KEY).await;
    let routes = [
        "automations".to_string(),
        format!("automations/{automation}"),
        format!("automations/{automation}/edit"),
        "history".into(),
        format!("executions/{execution}"),
        "events".into(),
        format!("events/{event}"),
        "integrations".into(),
        "integrations/ci".into(),
        "integrations/new".into(),
        "secrets".into(),
        "send-event".into(),
        "launch".into(),
        format!("launch/items/{item}"),
        "plugins".into(),
        "audit".into(),
        "no-such-page".into(),
    ];
    for route in &routes {
        page.goto(&format!("/#/{route}")).await;
        check(&page, &format!("#/{route} (admin)"), &mut found).await;
    }
    // How it looks on a phone.
    page.goto("/#/history").await;
    page.resize(375, 740).await;
    page.screenshot("phone-history").await;
    page.resize(1280, 800).await;
    // Each step of a new automation, and a server error shown at its field.
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
        check(&page, &format!("the automation step {step}"), &mut found).await;
    }
    // The action form made from a schema with pickers, and one with a choice and numbers.
    for plugin in ["launch-job", "teams"] {
        page.click_text("4. Action").await;
        page.choose("select[name=action-type]", plugin).await;
        page.until(
            "the config form",
            "document.querySelector('.config-form [name^=config-]')",
        )
        .await;
        check(&page, &format!("the {plugin} action's form"), &mut found).await;
    }
    // Non-text contrast, which axe-core leaves out: control borders and the focus ring.
    page.goto("/#/integrations/new").await;
    let low: Vec<String> = page.eval(NON_TEXT_CONTRAST).await;
    assert!(
        low.is_empty(),
        "under 3:1 against what is around them: {low:#?}"
    );
    page.goto("/#/secrets").await;
    page.type_into("input[name=name]", "not a name").await;
    page.type_into("input[name=value]", "x").await;
    page.click_text("Save secret").await;
    page.until(
        "the error at its field",
        "document.querySelector('.field .error:not(:empty)')",
    )
    .await;
    check(&page, "a server error at its field", &mut found).await;
    page.close().await;

    let page = Page::open(&server.url).await;
    page.sign_in(&member).await;
    for route in [
        "automations",
        "integrations",
        "integrations/ci",
        "history",
        "launch",
    ] {
        page.goto(&format!("/#/{route}")).await;
        check(&page, &format!("#/{route} (member)"), &mut found).await;
    }
    page.close().await;
    assert!(found.is_empty(), "{found:#?}");
}

/// Every control labelled, axe-core at desktop width, then the width and header checks at
/// 375 px, back to desktop; what axe or the widths find is added to `found`, so that one run names
/// every state that fails.
async fn check(page: &Page, state: &str, found: &mut Vec<String>) {
    page.assert_labelled().await;
    for violation in page.accessibility_violations().await {
        found.push(format!("{state}: {violation}"));
    }
    page.resize(375, 740).await;
    if let Some(overflow) = page.sideways_scroll().await {
        found.push(format!("{state}: {overflow}"));
    }
    // The header leaves the phone's screen to the page: at most three rows of links.
    let header: f64 = page
        .eval("document.getElementById('top').getBoundingClientRect().height")
        .await;
    if header > 3.0 * 34.0 {
        found.push(format!("{state}: the header is {header} px tall at 375 px"));
    }
    page.resize(1280, 800).await;
}

/// The borders of the page's visible text fields, selects and buttons, and the focus ring of
/// each focusable control (a header link's on the header), whose contrast with the colour
/// behind them is under 3:1 (WCAG 2.x, 1.4.11).
const NON_TEXT_CONTRAST: &str = "(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const behind = (e) => { for (let n = e.parentElement; n; n = n.parentElement) {
      const c = getComputedStyle(n).backgroundColor; if (!c.endsWith(', 0)') && c !== 'transparent') return c; }
    return 'rgb(255, 255, 255)'; };
  const low = [];
  const controls = [...document.querySelectorAll('main input:not([type=checkbox]):not([type=radio]), main select, main textarea, main button')]
    .filter((e) => e.offsetParent !== null);
  for (const e of controls) {
    const border = getComputedStyle(e).borderTopColor;
    const r = ratio(border, behind(e));
    if (r < 3) low.push(`border of ${e.outerHTML.slice(0, 60)}: ${r.toFixed(2)}`);
  }
  for (const e of [...controls, ...document.querySelectorAll('header a, header button')]) {
    e.focus({ focusVisible: true });
    const style = getComputedStyle(e);
    const ring = style.outlineColor;
    const r = ratio(ring, behind(e));
    if (style.outlineStyle === 'none' || r < 3) low.push(`focus ring of ${e.outerHTML.slice(0, 60)}: ${r.toFixed(2)} (${style.outlineStyle})`);
  }
  return low;
})()";
