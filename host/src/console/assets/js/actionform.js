// The action's config as a form made from the plugin's JSON Schema (`config_schema`): a field per
// property, and pickers fed by the API where the schema asks for one (`x-herald-picker`: the
// entity's launch queues, its jobs and their versions). The JSON it writes stays editable, for
// what the form does not cover.

import { api, entityPath, seg } from "./api.js";
import { h, fill, field, prose } from "./dom.js";

/** A `$ref` into the schema's own `$defs`, followed. */
function resolve(schema, root) {
  const ref = schema?.$ref;
  if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
    return { ...root.$defs?.[ref.slice("#/$defs/".length)], ...schema, $ref: undefined };
  }
  return schema || {};
}

/** The property's type, a nullable one (`["string", "null"]`) taken as its other type. */
function baseType(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  return type || (schema.enum || schema.oneOf ? "string" : "object");
}

/** The choices of an `enum` or a `oneOf` of `const`s, as `[value, label]`. */
function choices(schema) {
  if (Array.isArray(schema.enum)) return schema.enum.filter((v) => v !== null).map((v) => [String(v), String(v)]);
  const consts = (schema.oneOf || schema.anyOf || []).filter((s) => s.const !== undefined);
  return consts.length ? consts.map((s) => [String(s.const), s.description ? `${s.const} — ${s.description}` : String(s.const)]) : null;
}

/** A cache of the entity's queues and jobs for this page. */
function lookups() {
  const memo = {};
  const once = (key, load) => (memo[key] ||= load().catch(() => []));
  return {
    queues: () => once("queues", async () => (await api("GET", `${entityPath()}/queues`)).queues.map((q) => q.name)),
    jobs: () => once("jobs", async () => (await api("GET", `${entityPath()}/jobs`)).jobs.map((j) => j.name)),
    versions: (job) => once(`v:${job}`, async () => (await api("GET", `${entityPath()}/jobs/${seg(job)}/versions`)).jobs.map((j) => j.version)),
  };
}

/** A select of `names` (the current value kept even when it is not among them). */
function picker(name, names, value, empty) {
  return fillPicker(h("select", { name }), names, value, empty);
}

/** Fills a picker with `names`, keeping `value` chosen. */
function fillPicker(select, names, value, empty) {
  const options = [...new Set([...(value ? [value] : []), ...names])];
  return fill(
    select,
    h("option", { value: "" }, options.length ? "Choose…" : empty),
    options.map((n) => h("option", { value: n, selected: n === value }, n)),
  );
}

/**
 * Renders the form for `schema` into `container`, starting from `value` (an object), and calls
 * `write(config)` with the config whenever a field changes. Returns nothing; the caller owns the
 * JSON box.
 */
export function renderConfigForm(container, schema, value, write) {
  const root = schema || {};
  const properties = Object.entries(root.properties || {});
  const required = new Set(root.required || []);
  const config = { ...(value || {}) };
  if (!properties.length) {
    fill(container, h("p", { class: "muted" }, root.description ? prose(root.description) : "This action takes no config."));
    return;
  }
  const lookup = lookups();
  const set = (name, v) => {
    if (v === undefined || v === "") delete config[name];
    else config[name] = v;
    write({ ...config });
  };
  const fields = properties.map(([name, raw]) => {
    const schema = resolve(raw, root);
    const type = baseType(schema);
    const label = required.has(name) ? `${name} (required)` : name;
    const hint = schema.description ? prose(schema.description) : undefined;
    const options = { name: `action.config`, hint };
    const picks = schema["x-herald-picker"];
    if (picks === "queue") {
      const select = picker(`config-${name}`, [], config[name], "No queue yet");
      select.addEventListener("change", () => set(name, select.value));
      lookup.queues().then((names) => fillPicker(select, names, select.value, "No queue yet"));
      return field(label, select, options);
    }
    if (picks === "job") return jobPicker(name, label, options, config[name], lookup, (v) => set(name, v));
    const list = choices(schema);
    if (list) {
      const select = h("select", { name: `config-${name}` }, required.has(name) ? null : h("option", { value: "" }, "(default)"),
        list.map(([v, text]) => h("option", { value: v, selected: String(config[name] ?? schema.default ?? "") === v }, text)));
      select.addEventListener("change", () => set(name, select.value));
      return field(label, select, options);
    }
    if (type === "boolean") {
      const box = h("input", { type: "checkbox", name: `config-${name}`, checked: Boolean(config[name] ?? schema.default) });
      box.addEventListener("change", () => set(name, box.checked));
      return field(label, box, options);
    }
    if (type === "integer" || type === "number") {
      const input = h("input", { type: "number", name: `config-${name}`, step: type === "integer" ? 1 : "any", value: config[name] ?? "", placeholder: schema.default ?? "" });
      input.addEventListener("input", () => set(name, input.value === "" ? undefined : Number(input.value)));
      return field(label, input, options);
    }
    if (type === "object" || type === "array") {
      const box = h("textarea", { name: `config-${name}`, rows: 3 }, config[name] === undefined ? "" : JSON.stringify(config[name], null, 2));
      box.addEventListener("input", () => {
        try {
          set(name, box.value.trim() ? JSON.parse(box.value) : undefined);
          box.removeAttribute("aria-invalid");
        } catch {
          box.setAttribute("aria-invalid", "true");
        }
      });
      return field(`${label} (JSON)`, box, options);
    }
    const input = h("input", { type: "text", name: `config-${name}`, value: config[name] ?? "", placeholder: schema.default ?? "" });
    input.addEventListener("input", () => set(name, input.value));
    return field(label, input, options);
  });
  fill(container, fields);
}

/** A job and its version: `name` (the latest) or `name@version`. */
function jobPicker(name, label, options, value, lookup, set) {
  const [chosenJob, chosenVersion] = (value || "").split("@");
  const job = picker(`config-${name}`, [], chosenJob, "No job yet");
  const version = h("select", { name: `config-${name}-version` }, h("option", { value: "" }, "latest"));
  const write = () => set(job.value ? (version.value ? `${job.value}@${version.value}` : job.value) : undefined);
  const versions = async (keep) => {
    const list = job.value ? await lookup.versions(job.value) : [];
    fill(version, h("option", { value: "" }, "latest"), list.map((v) => h("option", { value: v, selected: String(v) === keep }, `version ${v}`)));
  };
  job.addEventListener("change", async () => {
    await versions("");
    write();
  });
  version.addEventListener("change", write);
  lookup.jobs().then(async (names) => {
    fillPicker(job, names, job.value, "No job yet");
    await versions(chosenVersion || "");
  });
  return h("div", {}, field(label, job, options), field(`${name} version`, version, { name: "action.config" }));
}
