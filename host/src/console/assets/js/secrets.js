// Secrets (admins): names and times only; a value is set or replaced through a write-only field
// and never shown again.

import { api, entityPath, isAdmin, seg } from "./api.js";
import { h, fill, field, table, showError, clearErrors, confirmAction, toast, when } from "./dom.js";
import { rerender } from "./history.js";

export async function secretsPage(main) {
  if (!isAdmin()) {
    fill(
      main,
      h("h1", {}, "Secrets"),
      h("p", { class: "notice", role: "alert" }, "Only admins manage secrets. Ask an admin of this entity."),
    );
    return;
  }
  const { secrets } = await api("GET", `${entityPath()}/secrets`);
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const value = h("input", { type: "password", name: "value", required: true, autocomplete: "new-password" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "set-secret" },
    h("h2", { id: "set-secret" }, "Set a secret"),
    field("Name", name, { name: "name", hint: "Referenced as ${NAME} in payload templates and by integrations. Setting an existing name replaces its value." }),
    field("Value", value, { name: "value", hint: "Write-only: it is encrypted at rest and never shown again." }),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Save secret")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const saved = await api("PUT", `${entityPath()}/secrets/${seg(name.value.trim())}`, { value: value.value });
      value.value = "";
      toast(saved.created ? `${saved.name} created` : `${saved.name} replaced`);
      rerender();
    } catch (error) {
      showError(form, error);
    }
  });
  fill(
    main,
    h("h1", {}, "Secrets"),
    form,
    table(
      [
        ["Name", (s) => h("code", {}, s.name)],
        ["Created", (s) => when(s.created_at)],
        ["Value changed", (s) => when(s.updated_at)],
        [
          "",
          (s) =>
            h(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Delete secret ${s.name}`,
                onclick: async () => {
                  if (!(await confirmAction(`Delete the secret “${s.name}”?`))) return;
                  try {
                    await api("DELETE", `${entityPath()}/secrets/${seg(s.name)}`);
                    toast(`${s.name} deleted`);
                  } catch (error) {
                    toast(error.message);
                  }
                  rerender();
                },
              },
              "Delete",
            ),
        ],
      ],
      secrets,
      "No secrets yet.",
    ),
  );
}
