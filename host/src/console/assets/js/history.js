// History: executions (an automation's or the entity's) filtered by status and time, one
// execution with its attempts and a Retry button, and an event with the executions it triggered.

import { api, apiDocument, names, seg } from "./api.js";
import { pagedList, instant } from "./paging.js";
import { followTask } from "./tasks.js";
import { h, fill, field, select, table, status, when, json, toast, showError, clearErrors } from "./dom.js";

/** Shows the current page again, through the router (as a hash change would). */
export function rerender() {
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

const STATUSES = ["", "pending", "running", "retrying", "held", "succeeded", "failed", "skipped"];

/**
 * An execution list with its filters, rendered into `container`, reading `path` (an
 * automation's executions or `/v1/executions`). `showAutomation` adds the automation column.
 */
export async function executionsList(container, path, showAutomation, automation = null, byAutomation = false) {
  const statusSelect = select(STATUSES.map((s) => [s, s || "any"]), "", { name: "status" });
  // Across the entity, the list narrows to one automation, picked by name (the entity's first
  // 1,000 automations are offered; any id may be typed).
  const automationInput = h("input", { type: "text", name: "automation", list: "history-automations", autocomplete: "off", placeholder: "any" });
  const automationList = h("datalist", { id: "history-automations" });
  if (byAutomation) {
    api("GET", "/v1/automations?limit=1000")
      .then(({ automations }) => fill(automationList, automations.map((a) => h("option", { value: a.id }, a.name))))
      .catch(() => {});
  }
  // To the second: a history of thousands a minute is narrowed by seconds.
  const since = h("input", { type: "datetime-local", name: "since", step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const results = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter executions" },
    byAutomation ? field("Automation", automationInput, { name: "automation", hint: "Its id; type its name to choose." }) : null,
    byAutomation ? automationList : null,
    field("Status", statusSelect, { name: "status" }),
    field("Created from", since, { name: "since" }),
    field("Created before", until, { name: "until" }),
    h("button", { type: "submit" }, "Show"),
  );
  const load = pagedList(
    results,
    path,
    () => ({ status: statusSelect.value, since: instant(since.value), until: instant(until.value), automation: automationInput.value.trim() }),
    (answer) => executionsTable(answer.executions, showAutomation),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  fill(container, form, retryForm(() => ({ status: statusSelect.value, since: since.value, until: until.value }), automation || automationInput.value.trim() || null), results);
  await load();
}

const FINISHED = ["failed", "succeeded", "skipped"];

/** "Retry these": the finished executions the filter shows (its status, or failed ones; its
 * window, at most 14 days), run again by a background task whose progress is shown. */
function retryForm(filter, automation) {
  const progress = h("p", { id: "retry-progress", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "actions", "aria-label": "Retry these executions" },
    h("button", { type: "submit" }, "Retry these"),
    h("span", { class: "muted" }, "Runs again the failed executions of the window above (or those of the status chosen, if finished); choose “Created from” first."),
    progress,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { status, since, until } = filter();
    if (!since) {
      fill(progress, h("span", { class: "error", role: "alert" }, "Choose “Created from” first: a retry covers at most 14 days."));
      return;
    }
    const body = { since: instant(since) };
    if (until) body.until = instant(until);
    if (FINISHED.includes(status)) body.statuses = [status];
    if (automation) body.automation = automation;
    try {
      const task = await api("POST", "/v1/executions/retry", body);
      await followTask(task, progress);
    } catch (error) {
      fill(progress, h("span", { class: "error", role: "alert" }, error.message));
    }
  });
  return form;
}

export function executionsTable(executions, showAutomation) {
  const columns = [
    ["Execution", (e) => h("a", { href: `#/executions/${seg(e.id)}` }, e.id)],
    ["Status", (e) => status(e.status)],
    ["Attempts", (e) => String(e.attempts)],
    ["Reason", (e) => e.status_reason || ""],
    ["Event", (e) => h("a", { href: `#/events/${seg(e.event_id)}` }, e.event_id)],
    ["Created", (e) => when(e.created_at)],
  ];
  if (showAutomation) {
    columns.splice(1, 0, ["Automation", (e) => h("a", { href: `#/automations/${seg(e.automation_id)}` }, e.automation?.name || e.automation_id)]);
  }
  return table(columns, executions, "No executions.");
}

export async function historyPage(main) {
  const list = h("section", {});
  fill(
    main,
    h("h1", {}, "History"),
    h("p", { class: "muted" }, "Every execution in the entity, newest first; narrow it to an automation, or go straight to an execution or event by its id."),
    findForm(),
    list,
  );
  await executionsList(list, "/v1/executions", true, null, true);
}

/** "Find": an execution or an event by its id (both are UUIDs: the execution is tried first). */
function findForm() {
  const id = h("input", { type: "text", name: "find", autocomplete: "off", spellcheck: false });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Find by id" },
    field("Execution or event id", id, { name: "find" }),
    h("button", { type: "submit" }, "Find"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const wanted = id.value.trim();
    if (!wanted) return;
    for (const [path, route] of [["/v1/executions/", "#/executions/"], ["/v1/events/", "#/events/"]]) {
      try {
        await api("GET", `${path}${seg(wanted)}`);
        location.hash = `${route}${seg(wanted)}`;
        return;
      } catch (error) {
        if (error.status !== 404 && error.status !== 400) return showError(form, { ...error, field: "find", message: error.message });
      }
    }
    showError(form, { field: "find", message: `No execution or event has the id ${wanted}.` });
  });
  return form;
}

export async function executionPage(main, id) {
  const execution = await api("GET", `/v1/executions/${seg(id)}`);
  const finished = ["succeeded", "failed", "skipped"].includes(execution.status);
  const retry = h(
    "button",
    {
      type: "button",
      class: "primary",
      disabled: !finished,
      title: finished ? null : "Still in progress",
      onclick: async () => {
        retry.disabled = true;
        try {
          await api("POST", `/v1/executions/${seg(id)}/retry`);
          toast("Queued again");
        } catch (error) {
          toast(error.message);
        }
        rerender();
      },
    },
    "Retry",
  );
  const refresh = h("button", { type: "button", onclick: rerender }, "Refresh");
  fill(
    main,
    h("h1", {}, "Execution ", h("code", {}, execution.id)),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Status"), h("dd", { id: "execution-status" }, status(execution.status)),
        h("dt", {}, "Reason"), h("dd", {}, execution.status_reason || "—"),
        h("dt", {}, "Automation"),
        h("dd", {}, h("a", { href: `#/automations/${seg(execution.automation_id)}` }, execution.automation?.name || execution.automation_id)),
        h("dt", {}, "Event"), h("dd", {}, h("a", { href: `#/events/${seg(execution.event_id)}` }, execution.event_id)),
        h("dt", {}, "Attempts"), h("dd", {}, String(execution.attempts)),
        h("dt", {}, "Created"), h("dd", {}, when(execution.created_at)),
        h("dt", {}, "Changed"), h("dd", {}, when(execution.updated_at)),
      ),
      h("div", { class: "actions" }, retry, refresh),
    ),
    execution.metric ? [h("h2", {}, "Metric"), json(execution.metric)] : null,
    execution.payload ? [h("h2", {}, "Payload"), json(execution.payload)] : null,
    h("h2", {}, "Attempts"),
    (execution.attempt_log || []).length
      ? execution.attempt_log.map((attempt, i) => attemptCard(attempt, i + 1))
      : h("p", { class: "muted" }, "No attempt yet."),
  );
}

/** A recorded body: text, or its start and length. */
function bodyText(body) {
  if (body === null || body === undefined) return "";
  if (typeof body === "string") return body;
  if (body.omitted) return `(${body.length} bytes, not kept)`;
  if (body.text !== undefined) return body.truncated ? `${body.text}\n… (${body.length} bytes)` : body.text;
  return JSON.stringify(body);
}

export function headersTable(headers) {
  if (headers && !Array.isArray(headers)) headers = Object.entries(headers);
  return table(
    [
      ["Header", ([name]) => name],
      ["Value", ([, value]) => value],
    ],
    headers || [],
    "No headers.",
  );
}

/** One request of an attempt and its answer (secrets redacted by the server). */
export function exchangeView(exchange) {
  const response = exchange.response;
  return h(
    "div",
    { class: "exchange" },
    h("h4", {}, `${exchange.method} ${exchange.url}`),
    h("details", {}, h("summary", {}, "Request headers"), headersTable(exchange.headers)),
    h("pre", { "aria-label": "Request body" }, bodyText(exchange.body)),
    response
      ? [
          h("h4", {}, "Response ", h("span", { class: "response-status" }, String(response.status))),
          h("details", {}, h("summary", {}, "Response headers"), headersTable(response.headers)),
          h("pre", { class: "response-body", "aria-label": "Response body" }, bodyText(response.body)),
        ]
      : null,
    exchange.error ? h("p", { class: "error" }, `${exchange.error.class}: ${exchange.error.message}`) : null,
  );
}

function attemptCard(attempt, number) {
  return h(
    "section",
    { class: "card attempt", "aria-label": `Attempt ${number}` },
    h("h3", {}, `Attempt ${attempt.number || number}: `, h("span", { class: "attempt-outcome" }, attempt.outcome || "")),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Started"), h("dd", {}, when(attempt.started_at)),
      h("dt", {}, "Duration"), h("dd", {}, `${Math.round((attempt.duration_ms || 0) * 10) / 10} ms`),
      h("dt", {}, "Message"), h("dd", {}, attempt.message || "—"),
      h("dt", {}, "Error class"), h("dd", { class: "error-class" }, attempt.error_class || "—"),
    ),
    (attempt.requests || []).map(exchangeView),
    attempt.logs?.length ? [h("h4", {}, "Plugin log"), json(attempt.logs)] : null,
  );
}

/** The entity's events, newest first, by type and time, a page at a time. */
export async function eventsPage(main) {
  const document = await apiDocument();
  const type = select([["", "any"], ...names(document, "EventType").map((t) => [t, t])], "", { name: "type" });
  const since = h("input", { type: "datetime-local", name: "since", step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const results = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter events" },
    field("Type", type, { name: "type" }),
    field("Received from", since, { name: "since" }),
    field("Received before", until, { name: "until" }),
    h("button", { type: "submit" }, "Show"),
  );
  const load = pagedList(
    results,
    "/v1/events",
    () => ({ type: type.value, since: instant(since.value), until: instant(until.value) }),
    (answer) =>
      table(
        [
          ["Event", (e) => h("a", { href: `#/events/${seg(e.id)}` }, e.id)],
          ["Type", (e) => h("code", {}, e.event.type)],
          ["Where", (e) => [e.event.project || e.event.registry, e.event.collection].filter(Boolean).join(" / ")],
          ["Triggered", (e) => String(e.matched)],
          ["Received", (e) => when(e.event.received_at)],
        ],
        answer.events,
        "No events.",
      ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  fill(main, h("h1", {}, "Events"), h("p", { class: "muted" }, "Every event the entity received, newest first."), form, results);
  await load();
}

/** The verdicts of `GET /v1/events/{id}/explanation`, as people read them. */
const VERDICTS = {
  fired: "fired",
  skipped: "skipped",
  disabled: "disabled",
  not_yet_listening: "not yet listening",
  scope: "out of scope",
  filter: "filter did not hold",
  condition: "condition did not hold",
  cooldown: "in its cooldown",
  changed: "changed since",
};

export async function eventPage(main, id) {
  const [event, why] = await Promise.all([
    api("GET", `/v1/events/${seg(id)}`),
    api("GET", `/v1/events/${seg(id)}/explanation`),
  ]);
  const elsewhere = why.other_event_types
    ? `${why.other_event_types} other automation${why.other_event_types === 1 ? " listens" : "s listen"} for other event types.`
    : "";
  fill(
    main,
    h("h1", {}, "Event ", h("code", {}, id)),
    h("h2", {}, "What was posted"),
    json(event.event),
    h("h2", {}, "Executions it triggered"),
    firstRows(event.executions || [], (rows) => executionsTable(rows, true)),
    h("h2", { id: "why" }, "Why it fired (or not)"),
    h("p", { class: "muted" }, `Every automation listening for ${why.event_type} events, with what stopped it. ${elsewhere}`),
    firstRows(why.considered, (rows) => table(
      [
        ["Automation", (c) => h("a", { href: `#/automations/${seg(c.automation_id)}` }, c.name)],
        ["Verdict", (c) => h("span", { class: `verdict verdict-${c.verdict}` }, VERDICTS[c.verdict] || c.verdict)],
        ["Why", (c) => [c.reason, c.changed_since ? " (judged on its definition now: it changed after the event)" : ""].join("")],
        ["Execution", (c) => (c.execution_id ? h("a", { href: `#/executions/${seg(c.execution_id)}` }, c.execution_id) : "")],
      ],
      rows,
      `No automation listens for ${why.event_type} events.`,
    )),
  );
}

/** The first 100 of `rows` as `render` shows them, and a button that shows them all: an event
 * that fired 1,000 automations opens as fast as one that fired a few. */
function firstRows(rows, render, first = 100) {
  if (rows.length <= first) return render(rows);
  const box = h("div", {});
  const more = h("button", { type: "button", onclick: () => fill(box, render(rows)) }, `Show all ${rows.length.toLocaleString("en")}`);
  return fill(box, render(rows.slice(0, first)), h("div", { class: "actions" }, h("span", { class: "muted" }, `The first ${first} of ${rows.length.toLocaleString("en")}.`), more));
}
