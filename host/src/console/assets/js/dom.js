// Building pages: every value becomes a text node or an attribute, never markup, so nothing a
// client sent (an event's author, a receiver's body) can run in the page.

let ids = 0;

/** A fresh element id. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/**
 * An element: `attrs` are attributes, except `on*` functions (listeners) and the properties
 * `value`, `checked`, `disabled`, `selected`; children are nodes or strings (as text).
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (["value", "checked", "disabled", "selected"].includes(name)) {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Text from the server in which `code` is marked with backticks, as text and code nodes. */
export function prose(text) {
  return String(text)
    .split("`")
    .map((part, i) => (i % 2 ? h("code", {}, part) : part))
    .filter((part) => part !== "");
}

/**
 * Makes a group of buttons one stop of the Tab key: Tab enters it at the last button used, the
 * arrow keys (and Home, End) move between its buttons (the ARIA toolbar pattern). Returns a
 * function to call when the group's buttons change.
 */
export function roving(group) {
  const buttons = () => [...group.querySelectorAll("button")].filter((b) => !b.hidden);
  const settle = (current) => buttons().forEach((b) => (b.tabIndex = b === current ? 0 : -1));
  group.addEventListener("keydown", (event) => {
    const all = buttons();
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: all.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = all[(to + all.length) % all.length];
    settle(next);
    next.focus();
  });
  group.addEventListener("focusin", (event) => {
    if (event.target.tagName === "BUTTON") settle(event.target);
  });
  const refresh = () => settle(buttons().find((b) => b.tabIndex === 0) || buttons()[0]);
  refresh();
  return refresh;
}

/** Why a control is not offered to a member: the API lets only admins do `what`. */
export function adminsOnly(what) {
  return h(
    "p",
    { class: "notice admins-only" },
    `${what}: only admins may (the API answers a member key 403 “only admins may call …”). Ask an admin of this entity.`,
  );
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * A labelled form field. `name` is the request field the server names in its errors
 * (`event.filter`, `action.payload`): its message appears under this field.
 */
export function field(label, input, { hint, name } = {}) {
  input.id ||= uid();
  const error = h("p", { class: "error", id: `${input.id}-error`, role: "alert" });
  const described = [hint ? `${input.id}-hint` : null, error.id].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  const wrapper = h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: input.id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null,
    error,
  );
  return wrapper;
}

/** Clears the errors a form shows. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll(".error, .form-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/**
 * Shows an API error in a form: at the field whose `data-field` is the longest prefix of the
 * field the server named, else at the form's own error line. Returns the field element used.
 */
export function showError(form, error) {
  clearErrors(form);
  const named = error.field || "";
  let best = null;
  for (const candidate of form.querySelectorAll("[data-field]")) {
    const name = candidate.dataset.field;
    const matches = named === name || named.startsWith(`${name}.`) || named.startsWith(`${name}[`);
    if (matches && (!best || name.length > best.dataset.field.length)) best = candidate;
  }
  if (best) {
    const line = best.querySelector(".error");
    line.textContent = error.message;
    const input = best.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return best;
  }
  let line = form.querySelector(".form-error");
  if (!line) {
    line = h("p", { class: "form-error", role: "alert" });
    form.prepend(line);
  }
  line.textContent = error.message;
  return null;
}

/**
 * A table: `columns` are `[label, row => cell]` (a column of buttons may have the label "", which
 * screen readers read as "Actions"); an empty list shows `empty`. The table scrolls sideways
 * inside its own area, which the keyboard can reach, so a narrow screen never scrolls the page.
 */
export function table(columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  const header = (label) => label || h("span", { class: "visually-hidden" }, "Actions");
  return h(
    "div",
    { class: "table-wrap", role: "region", tabindex: 0, "aria-label": `${columns[0][0]} list` },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", { scope: "col" }, header(label))))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row)))))),
    ),
  );
}

/** A select with `options` as `[value, label]` pairs (or plain strings). */
export function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map((option) => {
      const [v, label] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: v, selected: v === value }, label);
    }),
  );
}

/** Asks before something that cannot be undone; resolves to true when confirmed. */
export function confirmAction(message, confirmLabel = "Delete") {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, "Are you sure?"),
      h("p", {}, message),
      h(
        "form",
        { method: "dialog", class: "actions" },
        h("button", { value: "cancel" }, "Cancel"),
        h("button", { value: "confirm", class: "danger" }, confirmLabel),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A short message in the corner. */
export function toast(message) {
  for (const old of document.querySelectorAll(".toast")) old.remove();
  const node = h("div", { class: "toast", role: "status" }, message);
  document.body.append(node);
  setTimeout(() => node.remove(), 3000);
}

/** A stored time (RFC 3339) in the browser's local time. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** An execution status, coloured. */
export function status(value) {
  return h("span", { class: `status status-${value}` }, value);
}

/** JSON, indented, as text. */
export function json(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}
