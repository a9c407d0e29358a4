// The public HTTP API, as the console calls it: the session cookie authenticates, and the
// console's header marks each request as coming from these pages (the server refuses
// cookie-authenticated requests without it).

/** An error answer: status, stable code, message and the field it names. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Who is signed in: `{entity, role, operator}`, or null. */
export const session = { current: null };

/** Called when a request finds the session gone (the app shows the sign-in page). */
export const hooks = { signedOut: () => {} };

/** One request; resolves to the JSON answer (null for 204), rejects with an ApiError. */
export async function api(method, path, body, extraHeaders = {}) {
  const headers = { "x-herald-console": "1", accept: "application/json", ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "network", `The server could not be reached (${e.message}).`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const error = answer?.error || {};
    if (response.status === 401 && session.current) {
      session.current = null;
      hooks.signedOut(error.message);
    }
    throw new ApiError(response.status, error.code || "error", error.message || text || response.statusText, error.field);
  }
  return answer;
}

/** The path with its query string, leaving out empty values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** A path segment, escaped. */
export const seg = encodeURIComponent;

/** The signed-in entity's base path (`/v1/entities/NAME`). */
export function entityPath() {
  return `/v1/entities/${seg(session.current.entity)}`;
}

export const isAdmin = () => session.current?.role === "admin";

let documentPromise = null;

/** The API's OpenAPI document, read once per page load: the lists of names it holds (actions,
 * event types) are the ones filters offer. Null when it cannot be read. */
export function apiDocument() {
  documentPromise ??= api("GET", "/v1/openapi.json").catch(() => null);
  return documentPromise;
}

/** The enum of a component schema in the API's document (the one list of those names). */
export function names(document, schema) {
  return document?.components?.schemas?.[schema]?.enum || [];
}
