// Launch queues with their items (state, agent, output tail), and the installed plugins with
// their versions and config schemas.

import { api, entityPath, withQuery, seg } from "./api.js";
import { h, fill, table, when, json, status } from "./dom.js";

export async function launchPage(main) {
  const { queues } = await api("GET", `${entityPath()}/queues`);
  const sections = [];
  for (const queue of queues) {
    const { items } = await api("GET", withQuery(`${entityPath()}/queues/${seg(queue.name)}/items`, { limit: 50 }));
    sections.push(
      h(
        "section",
        { class: "card", "aria-label": `Queue ${queue.name}` },
        h("h2", {}, `Queue ${queue.name}`),
        queue.description ? h("p", {}, queue.description) : null,
        table(
          [
            ["Item", (i) => h("code", {}, i.id)],
            ["Job", (i) => i.job],
            ["Run", (i) => `${i.project}/${i.run_id}`],
            ["State", (i) => status(i.status)],
            ["Exit code", (i) => (i.exit_code === null || i.exit_code === undefined ? "—" : String(i.exit_code))],
            ["Agent", (i) => i.agent || "—"],
            ["Created", (i) => when(i.created_at)],
            ["Output (tail)", (i) => (i.output ? h("pre", {}, i.output.slice(-2000)) : "—")],
          ],
          items,
          "No items.",
        ),
      ),
    );
  }
  fill(
    main,
    h("h1", {}, "Launch queues"),
    h("p", { class: "muted" }, "Items a launch-job action enqueued, as agents claim and run them."),
    sections.length ? sections : h("p", { class: "muted" }, "No queues yet."),
  );
}

export async function pluginsPage(main) {
  const { plugins } = await api("GET", "/v1/plugins");
  fill(
    main,
    h("h1", {}, "Plugins"),
    h("p", { class: "muted" }, "The action types installed on this server. Each runs sandboxed; its config is checked against its schema when an automation is saved."),
    plugins.map((p) =>
      h(
        "section",
        { class: "card", "aria-label": `Plugin ${p.name}` },
        h("h2", {}, `${p.name} `, h("span", { class: "muted" }, p.version)),
        h("p", {}, p.description || ""),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Source"), h("dd", {}, p.source || (p.builtin ? "builtin" : "installed by the operator")),
          h("dt", {}, "Integration kinds"), h("dd", {}, (p.integration_kinds || []).join(", ") || "none"),
        ),
        h("details", {}, h("summary", {}, "Config schema"), json(p.config_schema)),
        p.default_payload ? h("details", {}, h("summary", {}, "Default payload"), json(p.default_payload)) : null,
      ),
    ),
  );
}
