// Automations: the list of a scope's automations (trigger, action, action name, queue, enabled)
// with enable/disable and delete, and one automation's page with its history.

import { api, seg } from "./api.js";
import { pagedList } from "./paging.js";
import { h, fill, field, table, confirmAction, toast, when } from "./dom.js";
import { executionsList } from "./history.js";

/** A scope in words. */
export function scopeText(scope) {
  switch (scope.type) {
    case "entity":
      return "the entity";
    case "project":
      return `project ${scope.project}`;
    case "registry":
      return `registry ${scope.registry}`;
    case "collection":
      return scope.registry
        ? `collection ${scope.collection} in registry ${scope.registry}`
        : `collection ${scope.collection} in project ${scope.project}`;
    default:
      return scope.type;
  }
}

export async function automationsPage(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const project = h("input", { type: "text", name: "project", value: params.get("project") || "" });
  const collection = h("input", { type: "text", name: "collection", value: params.get("collection") || "" });
  const results = h("div", { "aria-live": "polite" });
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter automations" },
    field("Project or registry", project, {}),
    field("Collection", collection, {}),
    h("button", { type: "submit" }, "Filter"),
  );
  const load = pagedList(
    results,
    "/v1/automations",
    () => ({ project: project.value.trim(), collection: collection.value.trim() }),
    (answer) => automationsTable(answer.automations, () => load()),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  fill(
    main,
    h("h1", {}, "Automations"),
    h("p", { class: "muted" }, "When an event happens in a scope and its filter holds, an automation runs its action. Filter by a project or registry to see the automations that listen there (including the entity's)."),
    h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/automations/new" }, "New automation")),
    filters,
    results,
  );
  await load();
}

function automationsTable(automations, reload) {
  return table(
    [
      ["Name", (a) => h("a", { href: `#/automations/${seg(a.id)}` }, a.name)],
      ["Scope", (a) => scopeText(a.scope)],
      ["Trigger type", (a) => h("code", {}, a.trigger_type)],
      ["Action type", (a) => a.action_type],
      ["Action name", (a) => a.action_name],
      ["Queue", (a) => a.queue || "—"],
      [
        "Enabled",
        (a) =>
          h("input", {
            type: "checkbox",
            checked: a.enabled,
            "aria-label": `${a.name} enabled`,
            onchange: async (event) => {
              const box = event.target;
              box.disabled = true;
              try {
                await api("PATCH", `/v1/automations/${seg(a.id)}`, { enabled: box.checked });
                toast(`${a.name} ${box.checked ? "enabled" : "disabled"}`);
              } catch (error) {
                box.checked = !box.checked;
                toast(error.message);
              } finally {
                box.disabled = false;
              }
            },
          }),
      ],
      [
        "",
        (a) =>
          h(
            "span",
            { class: "actions" },
            h("a", { href: `#/automations/${seg(a.id)}/edit` }, "Edit"),
            h(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Delete ${a.name}`,
                onclick: async () => {
                  if (!(await confirmAction(`Delete the automation “${a.name}”? Its history stays.`))) return;
                  try {
                    await api("DELETE", `/v1/automations/${seg(a.id)}`);
                    toast(`${a.name} deleted`);
                  } catch (error) {
                    toast(error.message);
                  }
                  await reload();
                },
              },
              "Delete",
            ),
          ),
      ],
    ],
    automations,
    "No automations here yet.",
  );
}

/** JSON as the page shows it: indented, as text. */
const shownJson = (value) => h("pre", {}, JSON.stringify(value, null, 2));

export async function automationPage(main, id) {
  const automation = await api("GET", `/v1/automations/${seg(id)}`);
  const history = h("section", { "aria-labelledby": "history-title" });
  const { event, action } = automation;
  const config = action.config && Object.keys(action.config).length ? action.config : null;
  // Enable or disable here too, not only from the list.
  const toggle = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        toggle.disabled = true;
        try {
          await api("PATCH", `/v1/automations/${seg(id)}`, { enabled: !automation.enabled });
          toast(`${automation.name} ${automation.enabled ? "disabled" : "enabled"}`);
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (error) {
          toast(error.message);
          toggle.disabled = false;
        }
      },
    },
    automation.enabled ? "Disable" : "Enable",
  );
  fill(
    main,
    h("h1", {}, automation.name),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Description"), h("dd", {}, automation.description || "—"),
        h("dt", {}, "Enabled"), h("dd", { id: "automation-enabled" }, automation.enabled ? "yes" : "no"),
        h("dt", {}, "Scope"), h("dd", {}, scopeText(automation.scope)),
        h("dt", {}, "Trigger type"), h("dd", {}, h("code", {}, automation.trigger_type)),
        h("dt", {}, "Filter"), h("dd", {}, event.filter ? shownJson(event.filter) : "none: every such event in the scope"),
        event.metric ? [h("dt", {}, "Metric condition"), h("dd", {}, shownJson(event.metric))] : null,
        h("dt", {}, "Action"), h("dd", {}, `${automation.action_type} → ${automation.action_name}`),
        h("dt", {}, "Queue"), h("dd", {}, automation.queue || "—"),
        config ? [h("dt", {}, "Action config"), h("dd", {}, shownJson(config))] : null,
        h("dt", {}, "Payload template"), h("dd", {}, action.payload ? shownJson(action.payload) : "the action's default payload"),
        h("dt", {}, "Rate limit"),
        h("dd", {}, automation.rate_limit ? `${automation.rate_limit.max} per ${automation.rate_limit.per_seconds} s` : "none"),
        h("dt", {}, "Changed"), h("dd", {}, when(automation.updated_at)),
      ),
      h("div", { class: "actions" }, h("a", { class: "button", href: `#/automations/${seg(id)}/edit` }, "Edit"), toggle),
    ),
    h("h2", { id: "history-title" }, "History"),
    history,
  );
  await executionsList(history, `/v1/automations/${seg(id)}/executions`, false, id);
}
