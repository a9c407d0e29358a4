// Cursor paging for every list page: newest first, an "Older" button while the API says more
// exist (has_more, next_cursor), "Newest" to go back to the start, and the page number.

import { api, withQuery } from "./api.js";
import { h, fill } from "./dom.js";

/**
 * Renders pages of `path` into `results`: `query()` gives the filter (read at each load),
 * `render(answer)` the rows of one answer. Returns `load`, which shows the first page.
 */
export function pagedList(results, path, query, render) {
  const load = async (cursor, page = 1) => {
    try {
      const answer = await api("GET", withQuery(path, { ...query(), cursor }));
      const older = answer.has_more
        ? h("button", { type: "button", onclick: () => load(answer.next_cursor, page + 1) }, "Older")
        : null;
      const newest = page > 1 ? h("button", { type: "button", onclick: () => load() }, "Newest") : null;
      fill(
        results,
        render(answer),
        h("div", { class: "actions pager" }, h("span", { class: "muted" }, `Page ${page}`), newest, older),
      );
    } catch (error) {
      fill(results, h("p", { class: "error", role: "alert" }, error.message));
    }
  };
  return () => load();
}

/** A local `datetime-local` value (to the second) as the API's UTC instant. */
export function instant(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}
