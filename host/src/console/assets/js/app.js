// The console's shell: sign-in, the navigation, and the hash router that shows one page at a
// time. Pages live in their own modules and render into <main>.

import { api, hooks, session, ApiError } from "./api.js";
import { h, fill, field, showError, clearErrors } from "./dom.js";
import { automationsPage, automationPage } from "./automations.js";
import { wizardPage } from "./wizard.js";
import { historyPage, executionPage, eventPage, eventsPage } from "./history.js";
import { integrationsPage, integrationPage } from "./integrations.js";
import { secretsPage } from "./secrets.js";
import { sendEventPage } from "./events.js";
import { launchPage, itemPage } from "./launch.js";
import { pluginsPage } from "./plugins.js";
import { auditPage } from "./audit.js";

const main = document.getElementById("main");
const top = document.getElementById("top");

/** The pages: a pattern over the hash path, its title, and what renders it. */
const routes = [
  [/^automations$/, "Automations", automationsPage],
  [/^automations\/new$/, "New automation", (m) => wizardPage(m, null)],
  [/^automations\/([^/]+)\/edit$/, "Edit automation", (m, id) => wizardPage(m, id)],
  [/^automations\/([^/]+)$/, "Automation", automationPage],
  [/^history$/, "History", historyPage],
  [/^executions\/([^/]+)$/, "Execution", executionPage],
  [/^events$/, "Events", eventsPage],
  [/^events\/([^/]+)$/, "Event", eventPage],
  [/^integrations$/, "Integrations", integrationsPage],
  [/^integrations\/new$/, "New integration", (m) => integrationPage(m, null)],
  [/^integrations\/([^/]+)$/, "Integration", integrationPage],
  [/^secrets$/, "Secrets", secretsPage],
  [/^send-event$/, "Send an event", sendEventPage],
  [/^launch$/, "Launch queues", launchPage],
  [/^launch\/items\/([^/]+)$/, "Queue item", itemPage],
  [/^plugins$/, "Plugins", pluginsPage],
  [/^audit$/, "Audit log", auditPage],
];

const nav = [
  ["automations", "Automations"],
  ["history", "History"],
  ["events", "Events"],
  ["integrations", "Integrations"],
  ["secrets", "Secrets", () => session.current?.role === "admin"],
  ["send-event", "Send an event"],
  ["launch", "Launch"],
  ["plugins", "Plugins"],
  ["audit", "Audit", () => session.current?.role === "admin"],
];

function currentPath() {
  const path = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  return !path || path === "sign-in" ? "automations" : path;
}

function header() {
  const path = currentPath();
  const section = path.split("/")[0];
  if (!session.current) {
    fill(top, h("nav", { "aria-label": "Herald" }, h("span", { class: "brand" }, "Herald")));
    return;
  }
  fill(
    top,
    h(
      "nav",
      { "aria-label": "Main" },
      h("a", { class: "brand", href: "#/automations" }, "Herald"),
      nav
        .filter(([, , visible]) => !visible || visible())
        .map(([to, label]) =>
          h("a", { href: `#/${to}`, "aria-current": section === to ? "page" : false }, label),
        ),
      h("span", { class: "who" }, `${session.current.entity} · ${session.current.role}`),
      h("button", { type: "button", onclick: signOut }, "Sign out"),
    ),
  );
}

async function render() {
  header();
  if (!session.current) return signInPage();
  const path = currentPath();
  for (const [pattern, title, page] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    document.title = `${title} · Herald`;
    main.setAttribute("aria-busy", "true");
    main.dataset.page = path;
    fill(main, h("p", { class: "muted" }, "Loading…"));
    try {
      await page(main, ...match.slice(1));
    } catch (error) {
      pageError(error);
    } finally {
      if (main.dataset.page === path) {
        main.setAttribute("aria-busy", "false");
        focusHeading();
      }
    }
    return;
  }
  document.title = "Not found · Herald";
  main.dataset.page = path;
  fill(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page."), h("a", { href: "#/automations" }, "Automations"));
  main.setAttribute("aria-busy", "false");
  focusHeading();
}

/** Moves the focus to the page's heading once it is shown (after signing in, following a link,
 * or saving), so that a keyboard or screen-reader user starts at the new page and not at the
 * top of the document. A field the page focused itself keeps the focus. */
function focusHeading() {
  if (main.contains(document.activeElement) && document.activeElement !== main) return;
  const heading = main.querySelector("h1");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus();
}

/** Shows why a page could not be shown. */
export function pageError(error) {
  if (error instanceof ApiError && error.status === 401) return;
  fill(
    main,
    h("h1", {}, error.status === 403 ? "Not allowed" : error.status === 404 ? "Not found" : "Something went wrong"),
    h("p", { class: "error", role: "alert" }, error.message),
  );
}

function signInPage() {
  document.title = "Sign in · Herald";
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    field("API key", key, {
      name: "key",
      hint: "An admin or member key (hk_…). The first start of the server prints one. The key is kept in an HttpOnly session cookie, never in the page's storage.",
    }),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Sign in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      session.current = await api("POST", "/console/session", { key: key.value });
      key.value = "";
      if (!location.hash || location.hash === "#/sign-in") location.hash = "#/automations";
      await render();
    } catch (error) {
      showError(form, error.field ? error : { ...error, message: error.message, field: "key" });
    }
  });
  const ended = endedBecause
    ? h("p", { class: "error", role: "alert", id: "session-ended" }, `Signed out: ${endedBecause} Sign in again, with another key if this one was revoked.`)
    : null;
  endedBecause = null;
  fill(main, ended, form);
  key.focus();
}

async function signOut() {
  try {
    await api("DELETE", "/console/session");
  } finally {
    session.current = null;
    location.hash = "#/sign-in";
    await render();
  }
}

/** Why the last session ended, when the server ended it (shown on the sign-in page once). */
let endedBecause = null;

hooks.signedOut = (message) => {
  endedBecause = message || "The session ended.";
  return render();
};

async function start() {
  try {
    const me = await api("GET", "/v1/me");
    session.current = { entity: me.entity, role: me.role, operator: me.operator };
  } catch {
    session.current = null;
  }
  window.addEventListener("hashchange", () => render());
  // "Skip to content" moves the focus to the page, not the router to a page called "main".
  document.querySelector("a.skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  await render();
}

start();
