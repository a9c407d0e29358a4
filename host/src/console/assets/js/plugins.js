// The installed plugins with their versions, integration kinds and config schemas.

import { api } from "./api.js";
import { h, fill, json } from "./dom.js";

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
