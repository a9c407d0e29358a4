// Integrations: where actions send (URL, kind, secret names), and how their deliveries are going
// (enabled, failing, or disabled with its executions held). Admins create and edit them, disable
// and enable them, and "Test" one: the server sends a payload and the receiver's answer comes back.

import { api, entityPath, isAdmin, seg } from "./api.js";
import { followTask } from "./tasks.js";
import { h, fill, field, select, table, showError, clearErrors, confirmAction, toast, when, adminsOnly } from "./dom.js";
import { exchangeView, headersTable } from "./history.js";

const KINDS = ["webhook", "slack", "teams", "github"];

export async function integrationsPage(main) {
  const { integrations } = await api("GET", `${entityPath()}/integrations`);
  fill(
    main,
    h("h1", {}, "Integrations"),
    h("p", { class: "muted" }, "Where actions send: a URL and the names of the secrets that authenticate and sign requests. Secret values never leave the server."),
    isAdmin() ? h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/integrations/new" }, "New integration")) : null,
    table(
      [
        ["Name", (i) => h("a", { href: `#/integrations/${seg(i.name)}` }, i.name)],
        ["Kind", (i) => i.kind],
        ["URL", (i) => (i.url_secret ? `secret ${i.url_secret}` : i.url)],
        ["Signing secret", (i) => i.signing_secret || "—"],
        ["Access token", (i) => i.access_token || "—"],
        ["Grants", (i) => (i.secrets || []).join(", ") || "—"],
        ["State", (i) => stateText(i.health)],
        ["Changed", (i) => when(i.updated_at)],
      ],
      integrations,
      "No integrations yet.",
    ),
  );
}

/** An integration's state in a few words, e.g. "disabled · 3 held". */
function stateText(health) {
  const held = health.held ? ` · ${health.held} held` : "";
  return h("span", { class: `status-${health.state}` }, `${health.state}${held}`);
}

/** Its health, and for admins the button that disables or enables it. */
function healthSection(integration, admin) {
  const health = integration.health;
  const path = `${entityPath()}/integrations/${seg(integration.name)}`;
  const rows = [
    ["State", stateText(health)],
    ["Failed attempts in a row", String(health.consecutive_failures)],
    health.failing_since ? ["Failing for good since", when(health.failing_since)] : null,
    health.disabled_at ? ["Disabled", when(health.disabled_at)] : null,
    health.disabled_reason ? ["Why", health.disabled_reason] : null,
    ["Executions held", String(health.held)],
  ].filter(Boolean);
  const act = (label, method, body, done) =>
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            await api(method, `${path}/${body.op}`, body.json);
            toast(done);
            // Shown again from the server's answer, as a visit would.
            window.dispatchEvent(new HashChangeEvent("hashchange"));
          } catch (error) {
            toast(error.message);
          }
        },
      },
      label,
    );
  const actions = !admin
    ? adminsOnly("Disabling, enabling and recovering an integration")
    : health.state === "disabled"
      ? h(
          "div",
          { class: "actions" },
          act("Enable and deliver held", "POST", { op: "enable", json: { held: "deliver" } }, "Enabled: held executions are due"),
          act("Enable and discard held", "POST", { op: "enable", json: { held: "discard" } }, "Enabled: held executions discarded"),
        )
      : h("div", { class: "actions" }, act("Disable", "POST", { op: "disable", json: {} }, "Disabled: its executions are held"));
  return h(
    "section",
    { class: "card health", "aria-labelledby": "health-title" },
    h("h2", { id: "health-title" }, "Health"),
    h("dl", {}, rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("p", { class: "muted" }, "Disabled after its executions have failed for good for its disable-after time with no success in between; its executions are then held, and delivered in order when it is enabled."),
    actions,
    admin ? recoverForm(path) : null,
  );
}

/** "Recover": every execution through the integration that failed since a time, queued again by
 * a background task whose progress is shown until it has finished. */
function recoverForm(path) {
  const since = h("input", { type: "datetime-local", name: "since", required: true });
  const progress = h("p", { id: "recover-progress", "aria-live": "polite" });
  const form = h(
    "form",
    { "aria-label": "Recover" },
    h("h3", {}, "Recover"),
    field("Failed since", since, { name: "since", hint: "Every execution through it that failed since then (at most 14 days ago) is sent again." }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Recover")),
    progress,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const task = await api("POST", `${path}/recover`, { since: new Date(since.value).toISOString() });
      await followTask(task, progress);
    } catch (error) {
      showError(form, error);
    }
  });
  return form;
}

/** Secret names for the secret selects (admins only may list them). */
async function secretNames() {
  if (!isAdmin()) return [];
  const { secrets } = await api("GET", `${entityPath()}/secrets`);
  return secrets.map((s) => s.name);
}

export async function integrationPage(main, name) {
  const existing = name ? await api("GET", `${entityPath()}/integrations/${seg(name)}`) : null;
  const names = await secretNames();
  const admin = isAdmin();
  // A member cannot list secrets, but sees the names an integration uses: they are options too.
  const secretSelect = (value, fieldName) => {
    const options = value && !names.includes(value) ? [...names, value] : names;
    return select([["", "none"], ...options.map((n) => [n, n])], value || "", { name: fieldName, disabled: !admin });
  };

  const nameInput = h("input", { type: "text", name: "name", value: existing?.name || "", required: true, disabled: !admin });
  const kind = select(KINDS, existing?.kind || "webhook", { name: "kind", disabled: !admin });
  const url = h("input", { type: "text", name: "url", value: existing?.url || "", placeholder: "https://ci.example.com/hooks/herald", disabled: !admin });
  const urlSecret = secretSelect(existing?.url_secret, "url_secret");
  const signing = secretSelect(existing?.signing_secret, "signing_secret");
  const token = secretSelect(existing?.access_token, "access_token");
  const granted = new Set(existing?.secrets || []);
  const grantBoxes = [...new Set([...names, ...granted])].map((n) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "secrets", value: n, checked: granted.has(n), disabled: !admin }), ` ${n}`),
  );
  const grantsHint = "The secrets its automations' payload templates may name (${NAME}), besides the URL, signing and access-token secrets above. A template naming any other secret is refused.";
  const grants = h(
    "fieldset",
    { class: "field grants", "data-field": "secrets", "aria-describedby": "grants-hint" },
    h("legend", {}, "Secrets its automations may use"),
    grantBoxes.length ? grantBoxes : h("p", { class: "muted" }, admin ? "The entity has no secrets yet." : "None."),
    h("p", { class: "hint", id: "grants-hint" }, grantsHint),
    h("p", { class: "error", role: "alert" }),
  );
  const form = h(
    "form",
    { class: "card", "aria-label": "Integration" },
    field("Name", nameInput, { name: "name", hint: "Letters, digits, -, _ and ." }),
    field("Kind", kind, { name: "kind" }),
    field("URL", url, { name: "url", hint: "http or https, a DNS name. Leave empty when the URL is itself a secret (Slack and Teams webhooks)." }),
    field("URL from secret", urlSecret, { name: "url_secret" }),
    field("Signing secret", signing, { name: "signing_secret", hint: "Signs each request (Standard Webhooks and X-Wandb-Signature)." }),
    field("Access token", token, { name: "access_token", hint: "Sent as Authorization: Bearer." }),
    grants,
    admin
      ? h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, existing ? "Save" : "Create"))
      : adminsOnly("Changing an integration"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      name: nameInput.value.trim(),
      kind: kind.value,
      url: url.value.trim() || null,
      url_secret: urlSecret.value || null,
      signing_secret: signing.value || null,
      access_token: token.value || null,
      secrets: [...form.querySelectorAll("input[name=secrets]:checked")].map((box) => box.value),
    };
    try {
      if (existing) {
        const saved = await api("PATCH", `${entityPath()}/integrations/${seg(existing.name)}`, body);
        toast("Saved");
        location.hash = `#/integrations/${seg(saved.name)}`;
      } else {
        for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
        const saved = await api("POST", `${entityPath()}/integrations`, body);
        toast("Created");
        location.hash = `#/integrations/${seg(saved.name)}`;
      }
    } catch (error) {
      showError(form, error);
    }
  });

  fill(
    main,
    h("h1", {}, existing ? `Integration ${existing.name}` : "New integration"),
    existing ? healthSection(existing, admin) : null,
    form,
    existing && admin ? testSection(existing) : null,
    existing && !admin ? adminsOnly("Testing or deleting an integration") : null,
    existing && admin
      ? h(
          "div",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              class: "danger",
              onclick: async () => {
                if (!(await confirmAction(`Delete the integration “${existing.name}”?`))) return;
                try {
                  await api("DELETE", `${entityPath()}/integrations/${seg(existing.name)}`);
                  toast("Deleted");
                  location.hash = "#/integrations";
                } catch (error) {
                  toast(error.message);
                }
              },
            },
            "Delete integration",
          ),
        )
      : null,
  );
}

/** "Test": sends a payload through the integration and shows the receiver's answer. */
function testSection(integration) {
  const payload = h("textarea", { name: "payload", rows: 6 }, JSON.stringify({ test: true }, null, 2));
  const answer = h("div", { id: "test-answer", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "test-title" },
    h("h2", { id: "test-title" }, "Test"),
    field("Payload", payload, { name: "payload", hint: "A JSON template: ${SECRET} names are resolved; event variables are empty." }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Send test")),
    answer,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    let body;
    try {
      body = { payload: JSON.parse(payload.value) };
    } catch (error) {
      showError(form, { field: "payload", message: `payload: not JSON (${error.message})` });
      return;
    }
    fill(answer, h("p", { class: "muted" }, "Sending…"));
    try {
      const result = await api("POST", `${entityPath()}/integrations/${seg(integration.name)}/test`, body);
      fill(answer, testResult(result));
    } catch (error) {
      fill(answer);
      showError(form, error);
    }
  });
  return form;
}

function testResult(result) {
  const response = result.response;
  return h(
    "div",
    { class: "test-result" },
    result.sent
      ? h(
          "div",
          {},
          h("h3", {}, "Receiver answered ", h("span", { class: "response-status" }, String(response.status))),
          h("h4", {}, "Headers"),
          headersTable(response.headers),
          h("h4", {}, "Body"),
          h("pre", { class: "response-body" }, typeof response.body === "string" ? response.body : response.body?.text ?? JSON.stringify(response.body)),
        )
      : h("p", { class: "error", role: "alert" }, `Nothing came back: ${result.error?.class || "error"}: ${result.error?.message || ""}`),
    h("details", {}, h("summary", {}, "The request as sent (secrets redacted)"), exchangeView({ ...result.request, response: null }) ),
    result.duration_ms !== null && result.duration_ms !== undefined ? h("p", { class: "muted" }, `${Math.round(result.duration_ms)} ms`) : null,
  );
}


