// The audit log (admins): who changed what, when, newest first, filtered by action, kind of
// thing, thing, key and time, a page at a time; each entry's fields before and after. The
// actions and kinds offered are the API document's own lists.

import { apiDocument, entityPath, names } from "./api.js";
import { h, fill, field, select, table, when, json } from "./dom.js";
import { pagedList, instant } from "./paging.js";

/** The top-level fields whose values differ between `before` and `after`. */
function changedFields(entry) {
  const before = entry.before || {};
  const after = entry.after || {};
  if (!entry.before || !entry.after) return "";
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys]
    .filter((k) => k !== "updated_at" && JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .join(", ");
}

function entriesTable(entries) {
  return table(
    [
      ["When", (e) => when(e.at)],
      ["Who", (e) => h("span", {}, h("code", {}, e.actor.key_id), ` (${e.actor.role})`)],
      ["Action", (e) => h("code", { class: "audit-action" }, e.action)],
      ["Target", (e) => e.target],
      ["Changed", (e) => changedFields(e)],
      [
        "Details",
        (e) =>
          h(
            "details",
            {},
            h("summary", {}, "Before and after"),
            e.before ? [h("h4", {}, "Before"), json(e.before)] : null,
            e.after ? [h("h4", {}, "After"), json(e.after)] : null,
          ),
      ],
    ],
    entries,
    "No changes recorded.",
  );
}

export async function auditPage(main) {
  const document = await apiDocument();
  const action = select([["", "any"], ...names(document, "AuditAction").map((a) => [a, a])], "", { name: "action" });
  const kind = select([["", "any"], ...names(document, "TargetKind").map((k) => [k, k])], "", { name: "target_kind" });
  const target = h("input", { type: "text", name: "target", autocomplete: "off" });
  const actor = h("input", { type: "text", name: "actor", autocomplete: "off" });
  const since = h("input", { type: "datetime-local", name: "since", step: 1 });
  const until = h("input", { type: "datetime-local", name: "until", step: 1 });
  const results = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter the audit log" },
    field("Action", action, { name: "action" }),
    field("Kind", kind, { name: "target_kind" }),
    field("Target (id or name)", target, { name: "target" }),
    field("Key id", actor, { name: "actor" }),
    field("From", since, { name: "since" }),
    field("Before", until, { name: "until" }),
    h("button", { type: "submit" }, "Show"),
  );
  const load = pagedList(
    results,
    `${entityPath()}/audit`,
    () => ({
      action: action.value,
      target_kind: kind.value,
      target: target.value.trim(),
      actor: actor.value.trim(),
      since: instant(since.value),
      until: instant(until.value),
    }),
    (answer) => entriesTable(answer.entries),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  fill(
    main,
    h("h1", {}, "Audit log"),
    h("p", { class: "muted" }, "Every change to the entity's automations, integrations, secrets, keys, plugins, jobs and queues, newest first. Secrets and keys appear by name, never by value."),
    form,
    results,
  );
  await load();
}
