// The admin API client: every call carries the API key from localStorage; errors come back as ApiError with the
// server's own message. A 401 on a normal call means the key stopped working: the app signs out.

const KEY = "antigravityd.api_key";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let unauthorizedHandler = () => {};
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export function storedKey() { return localStorage.getItem(KEY) || ""; }
export function storeKey(key) { localStorage.setItem(KEY, key); }
export function forgetKey() { localStorage.removeItem(KEY); }

export async function api(path, { method = "GET", body, key, signal } = {}) {
  const headers = { authorization: `Bearer ${key ?? storedKey()}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `cannot reach the daemon (${e.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = data?.error?.message || `HTTP ${response.status}`;
    const error = new ApiError(response.status, message, data);
    error.retryAfter = Number(response.headers.get("retry-after")) || null;
    if (response.status === 401 && key === undefined) unauthorizedHandler();
    throw error;
  }
  return data;
}

// For endpoints another part of the daemon provides (account onboarding, quota refresh, warmup): a 404 or 405
// means this build does not have them yet, which the UI says plainly instead of failing obscurely.
export function missingFeature(error) {
  return error instanceof ApiError && (error.status === 404 || error.status === 405) &&
    /no route|not allowed/.test(error.message);
}
