// Cursor paging for every list page: newest first, an "Older" button while the API says more
// exist (has_more, next_cursor), "Newest" to go back to the start, and the page number.

import { api, withQuery } from "./api.js";
import { h, fill } from "./dom.js";

/**
 * Renders pages of `path` into `results`: `query()` gives the filter (read at each load),
 * `render(answer)` the rows of one answer. Returns `load`, which shows the first page. The pager
 * says which page this is, and how many rows a page holds (100, 500 or 1,000: the API's most);
 * after Older or Newest the focus stays on the pager.
 */
export function pagedList(results, path, query, render) {
  const size = h(
    "select",
    { name: "per-page", "aria-label": "Rows per page" },
    [100, 500, 1000].map((n) => h("option", { value: n }, `${n.toLocaleString("en")} a page`)),
  );
  size.addEventListener("change", () => load(undefined, 1, "per-page"));
  const load = async (cursor, page = 1, focus = null) => {
    try {
      const answer = await api("GET", withQuery(path, { ...query(), limit: size.value, cursor }));
      const older = answer.has_more
        ? h("button", { type: "button", class: "older", onclick: () => load(answer.next_cursor, page + 1, "older") }, "Older")
        : null;
      const newest = page > 1 ? h("button", { type: "button", class: "newest", onclick: () => load(undefined, 1, "newest") }, "Newest") : null;
      const pager = h(
        "div",
        { class: "actions pager" },
        h("span", { class: "muted", role: "status" }, `Page ${page}${answer.has_more ? "" : " (the oldest)"}`),
        newest,
        older,
        size,
      );
      fill(results, render(answer), pager);
      // The button pressed was replaced: the focus goes to its successor (Older while there are
      // older pages, else Newest), so a keyboard user keeps paging.
      if (focus) (pager.querySelector(`.${focus}`) || older || newest || size).focus();
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
