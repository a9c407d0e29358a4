// Creating or editing an automation, in steps: event type → scope (only the scopes the server
// accepts for that event, from GET /v1/triggers) → filter → action and integration → payload
// template (with the variables it may use) → name. Every step stays in the page, so an error the
// server names (`event.filter`, `action.payload`) is shown at its field, on its step.

import { api, entityPath, seg } from "./api.js";
import { h, fill, field, select, showError, clearErrors, toast, roving } from "./dom.js";
import { renderConfigForm } from "./actionform.js";

const STEPS = [
  ["event", "Event"],
  ["scope", "Scope"],
  ["filter", "Filter"],
  ["action", "Action"],
  ["payload", "Payload"],
  ["name", "Name"],
];

/** Which step holds the fields a server error names. */
function stepOf(fieldName = "") {
  if (fieldName.startsWith("event.type")) return "event";
  if (fieldName.startsWith("scope")) return "scope";
  if (fieldName.startsWith("event")) return "filter";
  if (fieldName.startsWith("action.payload")) return "payload";
  if (fieldName.startsWith("action")) return "action";
  return "name";
}

function scopeKind(scope) {
  if (!scope) return "entity";
  if (scope.type === "collection") return scope.registry ? "registry_collection" : "project_collection";
  return scope.type;
}

function radios(name, options, value, onchange) {
  return options.map(([v, label]) => {
    const id = `${name}-${v}`;
    return h(
      "div",
      {},
      h("input", { type: "radio", name, id, value: v, checked: v === value, onchange }),
      " ",
      h("label", { for: id }, label),
    );
  });
}

function parseJson(text, fieldName) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw { field: fieldName, message: `${fieldName}: not JSON (${e.message})` };
  }
}

export async function wizardPage(main, id) {
  const [catalog, { plugins }, { integrations }, existing, places] = await Promise.all([
    api("GET", "/v1/triggers"),
    api("GET", "/v1/plugins"),
    api("GET", `${entityPath()}/integrations`),
    id ? api("GET", `/v1/automations/${seg(id)}`) : Promise.resolve(null),
    api("GET", "/v1/places").catch(() => ({ projects: [], registries: [], collections: [] })),
  ]);
  // Labels, and which scopes take which event kinds, come from the server (`GET /v1/triggers`).
  const eventTypes = catalog.triggers.map((t) => t.type);
  const eventLabel = Object.fromEntries(catalog.triggers.map((t) => [t.type, t.label]));
  const eventTypeOf = Object.fromEntries(catalog.triggers.map((t) => [t.type, t.event_type]));
  const scopeLabel = Object.fromEntries(catalog.scopes.map((s) => [s.scope, s.label]));

  let eventType = existing?.event.type || "LINK_ARTIFACT";
  let current = "event";
  const sections = {};
  const stepList = h("ol", { class: "steps", "aria-label": "Steps" });
  const form = h("form", { "aria-label": existing ? "Edit automation" : "New automation", novalidate: true });

  // Step 1: the event.
  const eventBox = h("fieldset", { class: "field", "data-field": "event.type" });
  const renderEvents = () =>
    fill(
      eventBox,
      h("legend", {}, "When this happens"),
      radios("event-type", eventTypes.map((t) => [t, `${eventLabel[t]} (${t})`]), eventType, (e) => {
        eventType = e.target.value;
        renderScopes();
        renderFilter();
        renderVariables();
      }),
      h("p", { class: "error", role: "alert" }),
    );

  // Step 2: the scope.
  let scope = scopeKind(existing?.scope);
  const scopeBox = h("fieldset", { class: "field", "data-field": "scope" });
  // The names that exist are suggested (a datalist); a name not seen yet may still be typed.
  const suggestions = (id, names) => h("datalist", { id }, [...new Set(names)].map((n) => h("option", { value: n })));
  const projectList = suggestions("places-projects", places.projects);
  const registryList = suggestions("places-registries", places.registries);
  const collectionList = h("datalist", { id: "places-collections" });
  const projectInput = h("input", { type: "text", name: "scope-project", list: projectList.id, autocomplete: "off", value: existing?.scope.project || "" });
  const registryInput = h("input", { type: "text", name: "scope-registry", list: registryList.id, autocomplete: "off", value: existing?.scope.registry || "" });
  const collectionInput = h("input", { type: "text", name: "scope-collection", list: collectionList.id, autocomplete: "off", value: existing?.scope.collection || "" });
  // Collections are suggested for the project or registry chosen.
  const suggestCollections = () => {
    const inRegistry = scope === "registry_collection";
    const where = (inRegistry ? registryInput : projectInput).value.trim();
    const names = places.collections
      .filter((c) => (inRegistry ? c.registry : c.project) === where || !where)
      .map((c) => c.collection);
    fill(collectionList, [...new Set(names)].map((n) => h("option", { value: n })));
  };
  projectInput.addEventListener("input", suggestCollections);
  registryInput.addEventListener("input", suggestCollections);
  const scopeNames = {
    project: field("Project", projectInput, { name: "scope.project" }),
    registry: field("Registry", registryInput, { name: "scope.registry" }),
    collection: field("Collection", collectionInput, { name: "scope.collection" }),
  };
  const renderScopes = () => {
    const allowed = catalog.scopes.filter((s) => s.event_types.includes(eventType)).map((s) => s.scope);
    if (!allowed.includes(scope)) scope = allowed[0];
    fill(
      scopeBox,
      h("legend", {}, "Where"),
      radios("scope-kind", allowed.map((s) => [s, scopeLabel[s]]), scope, (e) => {
        scope = e.target.value;
        showScopeNames();
      }),
      h("p", { class: "hint" }, "Only the scopes where this event can happen are offered."),
      h("p", { class: "error", role: "alert" }),
    );
    showScopeNames();
  };
  const showScopeNames = () => {
    scopeNames.project.hidden = !["project", "project_collection"].includes(scope);
    scopeNames.registry.hidden = !["registry", "registry_collection"].includes(scope);
    scopeNames.collection.hidden = !scope.endsWith("collection");
    suggestCollections();
  };

  // Step 3: the filter (and the metric condition).
  const filterBox = h("div", {});
  const rawFilter = h("textarea", { name: "filter", rows: 5 }, existing?.event.filter ? JSON.stringify(existing.event.filter, null, 2) : "");
  const rawMetric = h("textarea", { name: "metric", rows: 5 }, existing?.event.metric ? JSON.stringify(existing.event.metric, null, 2) : "");
  const filterFromForm = {};
  const renderFilter = () => {
    const parts = [];
    const regexField = (key, label, hint) => {
      const input = h("input", { type: "text", name: `filter-${key}`, value: existing?.event.filter?.[key]?.$regex || "" });
      input.addEventListener("input", () => {
        filterFromForm[key] = input.value ? { $regex: input.value } : undefined;
        writeFilter();
      });
      return field(label, input, { name: "event.filter", hint });
    };
    if (eventType === "ADD_ARTIFACT_ALIAS") {
      parts.push(regexField("alias", "Alias (regular expression)", "For example ^production$. Empty: any alias."));
    }
    if (eventType === "RUN_STATE") {
      const states = ["FINISHED", "FAILED"].map((state) => {
        const box = h("input", { type: "checkbox", id: `state-${state}`, value: state, checked: (existing?.event.filter?.state?.$in || []).includes(state) });
        box.addEventListener("change", () => {
          const chosen = [...filterBox.querySelectorAll("input[type=checkbox]:checked")].map((b) => b.value);
          filterFromForm.state = chosen.length ? { $in: chosen } : undefined;
          writeFilter();
        });
        return h("span", {}, box, " ", h("label", { for: `state-${state}` }, state), " ");
      });
      parts.push(h("fieldset", { class: "field", "data-field": "event.filter" }, h("legend", {}, "Run states"), states, h("p", { class: "error", role: "alert" })));
    }
    if (eventType.startsWith("RUN_")) {
      parts.push(regexField("run_name", "Run name (regular expression)", "Only runs whose name matches. Empty: every run."));
    }
    if (eventType.startsWith("RUN_METRIC")) parts.push(metricForm());
    if (eventType.startsWith("INTEGRATION_") || eventType.startsWith("EXECUTION_")) {
      parts.push(regexField("integration", "Integration (regular expression)", "Only events about integrations whose name matches. Empty: every integration."));
    }
    parts.push(
      field("Filter as JSON", rawFilter, {
        name: "event.filter",
        hint: "A condition on the event's fields ($regex, $in, $eq, $gt, $and, $or, ...). The fields above write it; edit it for anything else.",
      }),
    );
    fill(filterBox, parts.length > 1 ? parts : [h("p", { class: "muted" }, "This event needs no condition, but you may add one."), parts]);
  };
  const writeFilter = () => {
    const filter = parseOr(rawFilter.value, {});
    for (const [key, value] of Object.entries(filterFromForm)) {
      if (value === undefined) delete filter[key];
      else filter[key] = value;
    }
    rawFilter.value = Object.keys(filter).length ? JSON.stringify(filter, null, 2) : "";
  };
  const metricForm = () => {
    const existingMetric = parseOr(rawMetric.value, {});
    const input = (name, value, type = "text") => h("input", { type, name: `metric-${name}`, value: existingMetric[name] ?? value, step: type === "number" ? "any" : null });
    const inputs = { name: input("name", "loss") };
    if (eventType === "RUN_METRIC_THRESHOLD") {
      inputs.agg = select([["none", "the newest value"], ["AVERAGE", "the average"], ["MIN", "the minimum"], ["MAX", "the maximum"]], existingMetric.agg || "none");
      inputs.window = input("window", 5, "number");
      inputs.cmp = select([["$gt", ">"], ["$gte", "≥"], ["$lt", "<"], ["$lte", "≤"], ["$eq", "="], ["$ne", "≠"]], existingMetric.cmp || "$gt");
      inputs.value = input("value", 1, "number");
    } else if (eventType === "RUN_METRIC_CHANGE") {
      inputs.agg = select(["AVERAGE", "MIN", "MAX"], existingMetric.agg || "AVERAGE");
      inputs.current_window = input("current_window", 5, "number");
      inputs.prior_window = input("prior_window", 5, "number");
      inputs.change = select(["ABSOLUTE", "RELATIVE"], existingMetric.change || "RELATIVE");
      inputs.direction = select(["INCREASE", "DECREASE", "ANY"], existingMetric.direction || "INCREASE");
      inputs.amount = input("amount", 0.1, "number");
    } else {
      inputs.window = input("window", 30, "number");
      inputs.threshold = input("threshold", 3, "number");
      inputs.direction = select(["ANY", "INCREASE", "DECREASE"], existingMetric.direction || "ANY");
    }
    inputs.cooldown_seconds = input("cooldown_seconds", 86400, "number");
    const labels = {
      name: "Metric", agg: "Of", window: "Window (values)", cmp: "Compared", value: "With",
      current_window: "Current window", prior_window: "Prior window", change: "Change", direction: "Direction",
      amount: "By at least", threshold: "|z| at least", cooldown_seconds: "Cooldown (seconds per run)",
    };
    const write = () => {
      const metric = {};
      for (const [name, element] of Object.entries(inputs)) {
        if (element.value === "") continue;
        metric[name] = element.type === "number" ? Number(element.value) : element.value;
      }
      rawMetric.value = JSON.stringify(metric, null, 2);
    };
    for (const element of Object.values(inputs)) {
      element.addEventListener("input", write);
      element.addEventListener("change", write);
    }
    write();
    return h(
      "fieldset",
      {},
      h("legend", {}, "Metric condition"),
      Object.entries(inputs).map(([name, element]) => field(labels[name], element, { name: "event.metric" })),
      field("Condition as JSON", rawMetric, { name: "event.metric" }),
    );
  };

  // Step 4: the action.
  const pluginSelect = select(plugins.map((p) => [p.name, `${p.name} ${p.version} — ${p.description}`]), existing?.action.type || "webhook", { name: "action-type" });
  const integrationSelect = h("select", { name: "integration" });
  const config = h("textarea", { name: "config", rows: 5 }, JSON.stringify(existing?.action.config || {}, null, 2));
  const configForm = h("div", { class: "config-form" });
  const configRaw = h("details", {}, h("summary", {}, "Config as JSON"), field("Config (JSON)", config, { name: "action.config", hint: "The fields above write it; edit it for anything they do not cover." }));
  const integrationField = field("Integration", integrationSelect, { name: "action.integration" });
  const plugin = () => plugins.find((p) => p.name === pluginSelect.value);
  // The form is made from the plugin's config schema; it and the JSON box write each other.
  const renderConfig = () => {
    const schema = plugin()?.config_schema || {};
    configRaw.hidden = !Object.keys(schema.properties || {}).length && schema.additionalProperties === false;
    renderConfigForm(configForm, schema, parseOr(config.value, {}), (value) => {
      config.value = JSON.stringify(value, null, 2);
    });
  };
  config.addEventListener("change", renderConfig);
  const renderAction = () => {
    const kinds = plugin()?.integration_kinds || [];
    const usable = integrations.filter((i) => kinds.includes(i.kind));
    const chosen = existing?.action.integration || integrationSelect.value;
    fill(
      integrationSelect,
      usable.length
        ? usable.map((i) => h("option", { value: i.name, selected: i.name === chosen }, `${i.name} (${i.kind})`))
        : h("option", { value: "" }, `No ${kinds.join(" or ")} integration yet`),
    );
    integrationField.hidden = kinds.length === 0;
    integrationSelect.dispatchEvent(new Event("change"));
    renderConfig();
  };
  pluginSelect.addEventListener("change", () => {
    if (pluginSelect.value !== existing?.action.type) config.value = "{}";
    renderAction();
    if (!existing) resetPayload();
  });

  // Step 5: the payload template.
  const payload = h("textarea", { name: "payload", rows: 12 });
  const resetPayload = () => {
    const template = existing?.action.payload ?? plugin()?.default_payload;
    payload.value = template ? JSON.stringify(template, null, 2) : "";
  };
  const insert = (text) => {
    const start = payload.selectionStart ?? payload.value.length;
    payload.setRangeText(text, start, payload.selectionEnd ?? start, "end");
    payload.focus();
  };
  // Only the variables the chosen event sets are offered (from `GET /v1/triggers`); the chips are
  // one Tab stop, the arrow keys move between them.
  const chips = h("span", {});
  const variables = h(
    "div",
    { class: "variables", role: "toolbar", "aria-label": "Variables" },
    chips,
    h("span", { class: "secret-chips" }),
  );
  const refreshChips = roving(variables);
  const renderVariables = () => {
    const type = eventTypeOf[eventType];
    const offered = catalog.variables.filter((v) => !v.event_types || v.event_types.includes(type));
    fill(
      chips,
      offered.map((v) => h("button", { type: "button", title: `${v.about} (${v.set_by})`, onclick: () => insert("${" + v.name + "}") }, "${" + v.name + "}")),
      ["CREATE_ARTIFACT", "LINK_ARTIFACT", "ADD_ARTIFACT_ALIAS"].includes(type)
        ? h("button", { type: "button", title: "An artifact's metadata value", onclick: () => insert("${artifact_metadata.KEY}") }, "${artifact_metadata.KEY}")
        : null,
    );
    refreshChips();
  };
  // The secrets a template may name are those its integration uses or grants: offered to members
  // and admins alike, and only those (the server refuses any other).
  const renderSecretChips = () => {
    const chosen = integrations.find((i) => i.name === integrationSelect.value);
    const names = chosen ? [...new Set([chosen.url_secret, chosen.access_token, chosen.signing_secret, ...(chosen.secrets || [])].filter(Boolean))] : [];
    fill(
      variables.querySelector(".secret-chips"),
      names.map((name) => h("button", { type: "button", title: `A secret ${chosen.name} grants (resolved only when sent)`, onclick: () => insert("${" + name + "}") }, "${" + name + "}")),
    );
    refreshChips();
  };
  integrationSelect.addEventListener("change", renderSecretChips);

  // Step 6: name, description, enabled, rate limit.
  const nameInput = h("input", { type: "text", name: "name", value: existing?.name || "", required: true });
  const description = h("input", { type: "text", name: "description", value: existing?.description || "" });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: existing ? existing.enabled : true });
  const rateMax = h("input", { type: "number", name: "rate-max", min: 1, value: existing?.rate_limit?.max ?? "" });
  const ratePer = h("input", { type: "number", name: "rate-per", min: 1, value: existing?.rate_limit?.per_seconds ?? "" });

  sections.event = h("section", {}, h("h2", {}, "1. Event"), eventBox);
  sections.scope = h("section", {}, h("h2", {}, "2. Scope"), scopeBox, Object.values(scopeNames), projectList, registryList, collectionList);
  sections.filter = h("section", {}, h("h2", {}, "3. Filter"), filterBox);
  sections.action = h(
    "section",
    {},
    h("h2", {}, "4. Action"),
    field("Action", pluginSelect, { name: "action.type" }),
    integrationField,
    configForm,
    configRaw,
  );
  sections.payload = h(
    "section",
    {},
    h("h2", {}, "5. Payload"),
    field("Payload template (JSON)", payload, { name: "action.payload", hint: "Strings may use ${variable} and ${SECRET}. Empty: the action's default payload." }),
    h("p", {}, "Variables of this event (click to insert; arrow keys move between them):"),
    variables,
  );
  sections.name = h(
    "section",
    {},
    h("h2", {}, "6. Name"),
    field("Name", nameInput, { name: "name" }),
    field("Description", description, { name: "description" }),
    h("div", { class: "field" }, enabled, " ", h("label", { for: (enabled.id = "enabled") }, "Enabled")),
    h(
      "fieldset",
      { class: "field", "data-field": "rate_limit" },
      h("legend", {}, "Rate limit (optional)"),
      field("At most", rateMax, {}),
      field("Per seconds", ratePer, {}),
      h("p", { class: "error", role: "alert" }),
    ),
  );

  const back = h("button", { type: "button" }, "Back");
  const next = h("button", { type: "button", class: "primary" }, "Next");
  const save = h("button", { type: "submit", class: "primary" }, existing ? "Save" : "Create automation");
  const show = (step) => {
    current = step;
    const index = STEPS.findIndex(([s]) => s === step);
    for (const [s] of STEPS) sections[s].hidden = s !== step;
    fill(stepList, STEPS.map(([s, label], i) =>
      h("li", { "aria-current": s === step ? "step" : false }, h("a", { href: "#", onclick: (e) => { e.preventDefault(); show(s); } }, `${i + 1}. ${label}`))));
    back.disabled = index === 0;
    next.hidden = index === STEPS.length - 1;
    save.hidden = index !== STEPS.length - 1;
    const first = sections[step].querySelector("input:not([type=hidden]), select, textarea");
    if (first && document.activeElement !== first) first.focus({ preventScroll: true });
  };
  back.addEventListener("click", () => show(STEPS[Math.max(0, STEPS.findIndex(([s]) => s === current) - 1)][0]));
  next.addEventListener("click", () => show(STEPS[Math.min(STEPS.length - 1, STEPS.findIndex(([s]) => s === current) + 1)][0]));

  const body = () => {
    const scopeBody =
      scope === "entity" ? { type: "entity" }
      : scope === "project" ? { type: "project", project: projectInput.value.trim() }
      : scope === "registry" ? { type: "registry", registry: registryInput.value.trim() }
      : scope === "project_collection" ? { type: "collection", project: projectInput.value.trim(), collection: collectionInput.value.trim() }
      : { type: "collection", registry: registryInput.value.trim(), collection: collectionInput.value.trim() };
    const event = { type: eventType };
    const filter = parseJson(rawFilter.value, "event.filter");
    if (filter !== undefined) event.filter = filter;
    if (eventType.startsWith("RUN_METRIC")) event.metric = parseJson(rawMetric.value, "event.metric") ?? {};
    const action = { type: pluginSelect.value, config: parseJson(config.value, "action.config") ?? {} };
    if (plugin()?.integration_kinds?.length) action.integration = integrationSelect.value;
    const template = parseJson(payload.value, "action.payload");
    if (template !== undefined) action.payload = template;
    const rate = rateMax.value || ratePer.value ? { max: Number(rateMax.value), per_seconds: Number(ratePer.value) } : null;
    return { name: nameInput.value.trim(), description: description.value, enabled: enabled.checked, scope: scopeBody, event, action, rate_limit: rate };
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    // Enter before the last step moves on; only the last step creates.
    const index = STEPS.findIndex(([s]) => s === current);
    if (index < STEPS.length - 1) {
      show(STEPS[index + 1][0]);
      return;
    }
    clearErrors(form);
    try {
      const automation = body();
      const saved = existing
        ? await api("PATCH", `/v1/automations/${seg(existing.id)}`, automation)
        : await api("POST", "/v1/automations", automation);
      toast(existing ? "Saved" : "Created");
      location.hash = `#/automations/${seg(saved.id)}`;
    } catch (error) {
      show(stepOf(error.field));
      showError(form, error);
    }
  });

  fill(form, stepList, Object.values(sections), h("div", { class: "actions" }, back, next, save));
  fill(main, h("h1", {}, existing ? `Edit ${existing.name}` : "New automation"), form);
  renderEvents();
  renderScopes();
  renderFilter();
  renderAction();
  renderVariables();
  resetPayload();
  show("event");
}

function parseOr(text, fallback) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : fallback;
  } catch {
    return fallback;
  }
}
