// Launch queues with their items (state, agent, output tail), the agents serving them, and an
// item's page that follows its output while it runs.

import { api, entityPath, withQuery, seg } from "./api.js";
import { pagedList } from "./paging.js";
import { h, fill, table, when, status } from "./dom.js";

export async function launchPage(main) {
  const [{ queues }, { agents }] = await Promise.all([
    api("GET", `${entityPath()}/queues`),
    api("GET", `${entityPath()}/agents`),
  ]);
  const sections = [];
  const loads = [];
  for (const queue of queues) {
    const results = h("div", { "aria-live": "polite" });
    // Each queue pages on its own, newest first.
    loads.push(
      pagedList(results, `${entityPath()}/queues/${seg(queue.name)}/items`, () => ({}), (answer) => itemsTable(answer.items)),
    );
    sections.push(
      h(
        "section",
        { class: "card", "aria-label": `Queue ${queue.name}` },
        h("h2", {}, `Queue ${queue.name}`),
        queue.description ? h("p", {}, queue.description) : null,
        results,
      ),
    );
  }
  fill(
    main,
    h("h1", {}, "Launch queues"),
    h("p", { class: "muted" }, "Items a launch-job action enqueued, as agents claim and run them."),
    sections.length ? sections : h("p", { class: "muted" }, "No queues yet."),
    h("h2", { id: "agents-title" }, "Agents"),
    h("p", { class: "muted" }, "Every agent that has claimed from the entity's queues: what it serves, how busy it is, when it was last heard from."),
    table(
      [
        ["Agent", (a) => a.name],
        ["Queues", (a) => a.queues.join(", ")],
        ["Slots in use", (a) => `${a.slots_in_use} of ${a.slots}`],
        ["Last seen", (a) => when(a.last_seen_at)],
        ["Key", (a) => h("code", {}, a.key_id)],
      ],
      agents,
      "No agent has claimed yet: start one with the herald agent command.",
    ),
  );
  await Promise.all(loads.map((load) => load()));
}

function itemsTable(items) {
  return table(
    [
      ["Item", (i) => h("a", { href: `#/launch/items/${seg(i.id)}` }, h("code", {}, i.id))],
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
  );
}

/** How often a running item's page asks for more output. */
const FOLLOW_MS = 1000;

const FINAL = new Set(["finished", "failed", "cancelled"]);

export async function itemPage(main, id) {
  const path = `${entityPath()}/items/${seg(id)}`;
  const item = await api("GET", path);
  const state = h("dd", {}, status(item.status));
  const exit = h("dd", {}, item.exit_code === null || item.exit_code === undefined ? "—" : String(item.exit_code));
  const cut = h("p", { class: "muted" });
  cut.hidden = true;
  const output = h("pre", { class: "output", role: "log", "aria-label": "Output", "aria-live": "polite" });
  fill(
    main,
    h("h1", {}, "Queue item ", h("code", {}, item.id)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Job"), h("dd", {}, item.job),
      h("dt", {}, "Queue"), h("dd", {}, item.queue),
      h("dt", {}, "Run"), h("dd", {}, `${item.project}/${item.run_id}`),
      h("dt", {}, "State"), state,
      h("dt", {}, "Exit code"), exit,
      h("dt", {}, "Agent"), h("dd", {}, item.agent || "—"),
      h("dt", {}, "Attempts"), h("dd", {}, String(item.attempts)),
      h("dt", {}, "Created"), h("dd", {}, when(item.created_at)),
    ),
    h("section", { class: "card", "aria-label": "Output" }, h("h2", {}, "Output"), cut, output),
    h("p", {}, h("a", { href: "#/launch" }, "All queues")),
  );
  // Follow the output while the item runs and this page is shown (the page itself is ready:
  // following goes on after it rendered). Each read starts where the last ended, so only new
  // output comes.
  follow(main, path, { state, exit, cut, output }).catch((error) => {
    cut.hidden = false;
    fill(cut, `The output stopped updating: ${error.message}`);
  });
}

async function follow(main, path, { state, exit, cut, output }) {
  // This page's own follower: another visit to it starts another, and this one stops.
  const page = main.dataset.page;
  const visit = (main.followVisit = {});
  const shown = () => main.dataset.page === page && main.followVisit === visit;
  let offset = 0;
  let cutBytes = 0;
  for (;;) {
    const chunk = await api("GET", withQuery(`${path}/output`, { offset }));
    if (!shown()) return;
    if (chunk.start > offset) {
      cutBytes += chunk.start - offset;
      cut.hidden = false;
      fill(cut, `${cutBytes} earlier bytes of output were cut; only the last 64 KiB are kept.`);
    }
    if (chunk.text) {
      const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
      output.append(chunk.text);
      if (atBottom) output.scrollTop = output.scrollHeight;
    }
    offset = chunk.output_bytes;
    fill(state, status(chunk.status));
    if (FINAL.has(chunk.status)) break;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    if (!shown()) return;
  }
  const ended = await api("GET", path);
  if (!shown()) return;
  fill(exit, ended.exit_code === null || ended.exit_code === undefined ? "—" : String(ended.exit_code));
}
