// Send an event: try automations out before production. The fields build the event's JSON,
// which can also be edited directly; the answer links to the event and what it triggered.

import { api, session, seg } from "./api.js";
import { h, fill, field, select, showError, clearErrors } from "./dom.js";

/** Which inputs each event type uses, from the server's fields of each type (`GET /v1/triggers`):
 * a type that may happen in a project or a registry asks where first. */
function usesOf(catalog) {
  return Object.fromEntries(
    catalog.events.map(({ type, fields }) => {
      const either = fields.includes("project") && fields.includes("registry");
      const uses = either ? ["place", ...fields.filter((f) => f !== "project" && f !== "registry")] : fields;
      return [type, uses];
    }),
  );
}

export async function sendEventPage(main) {
  const USES = usesOf(await api("GET", "/v1/triggers"));
  const inputs = {
    type: select(Object.keys(USES), "LINK_ARTIFACT", { name: "type" }),
    place: select([["project", "in a project"], ["registry", "in a registry"]], "registry", { name: "place" }),
    project: h("input", { type: "text", name: "project", value: "" }),
    registry: h("input", { type: "text", name: "registry", value: "model-registry" }),
    collection: h("input", { type: "text", name: "collection", value: "" }),
    version: h("input", { type: "text", name: "version", value: "v0" }),
    alias: h("input", { type: "text", name: "alias", value: "production" }),
    author: h("input", { type: "text", name: "author", value: "" }),
    run_id: h("input", { type: "text", name: "run_id", value: "" }),
    run_name: h("input", { type: "text", name: "run_name", value: "" }),
    state: select(["RUNNING", "FINISHED", "FAILED"], "FAILED", { name: "state" }),
    step: h("input", { type: "number", name: "step", min: 0, value: "" }),
    metrics: h("input", { type: "text", name: "metrics", value: '{"loss": 0.5}' }),
  };
  const labels = {
    type: "Event type", place: "Where", project: "Project", registry: "Registry", collection: "Collection",
    version: "Version", alias: "Alias", author: "Author", run_id: "Run id", run_name: "Run name",
    state: "Run state", step: "Step", metrics: "Metrics (JSON object)",
  };
  const fields = Object.fromEntries(
    Object.entries(inputs).map(([name, input]) => [name, field(labels[name], input, { name })]),
  );
  const raw = h("textarea", { name: "event", rows: 10 });
  const answer = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-label": "Event" },
    Object.values(fields),
    field("The event as it will be posted", raw, { name: "event", hint: "Edit it directly for fields the form does not have (metadata, aliases, occurred_at)." }),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Send event")),
    answer,
  );

  const build = () => {
    const type = inputs.type.value;
    const uses = USES[type];
    for (const [name, wrapper] of Object.entries(fields)) {
      const shown = name === "type" || uses.includes(name) ||
        (uses.includes("place") && name === inputs.place.value);
      wrapper.hidden = !shown;
    }
    const event = { type, entity: session.current.entity };
    const text = (name) => inputs[name].value.trim();
    const place = uses.includes("place") ? inputs.place.value : uses.includes("registry") ? "registry" : "project";
    event[place] = text(place);
    for (const name of ["collection", "version", "alias", "author", "run_id", "run_name"]) {
      if (uses.includes(name) && text(name)) event[name] = text(name);
    }
    if (uses.includes("state")) event.state = inputs.state.value;
    if (uses.includes("step") && text("step")) event.step = Number(text("step"));
    if (uses.includes("metrics")) {
      try {
        event.metrics = JSON.parse(inputs.metrics.value || "{}");
      } catch {
        event.metrics = inputs.metrics.value;
      }
    }
    raw.value = JSON.stringify(event, null, 2);
  };
  for (const input of Object.values(inputs)) input.addEventListener("input", build);
  for (const input of Object.values(inputs)) input.addEventListener("change", build);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    let body;
    try {
      body = JSON.parse(raw.value);
    } catch (error) {
      showError(form, { field: "event", message: `not JSON: ${error.message}` });
      return;
    }
    try {
      const result = await api("POST", "/v1/events", body);
      fill(
        answer,
        h(
          "p",
          { class: "notice", role: "status" },
          `Stored; it triggered ${result.matched} automation${result.matched === 1 ? "" : "s"}. `,
          h("a", { href: `#/events/${seg(result.event_id)}` }, "See the event and its executions"),
        ),
      );
    } catch (error) {
      fill(answer);
      showError(form, error);
    }
  });
  fill(
    main,
    h("h1", {}, "Send an event"),
    h("p", { class: "muted" }, "Test before production: post an event as training code or CI would, and see which automations it triggers."),
    form,
  );
  build();
}
