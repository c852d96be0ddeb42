// Sign-in: the API key is checked with GET /api/status and kept in this browser's localStorage.

import { ApiError, api, storeKey } from "/ui/api.js";
import { h, setStatus } from "/ui/dom.js";

function explain(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  if (error.status === 401) return "Invalid API key.";
  if (error.status === 429) {
    const minutes = error.retryAfter ? Math.ceil(error.retryAfter / 60) : 15;
    return `Too many wrong keys from this address. Try again in about ${minutes} min.`;
  }
  if (error.status === 0) return `Connection failed: ${error.message}.`;
  return `The daemon answered ${error.status}: ${error.message}`;
}

export function render(main, { navigate, message }) {
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "current-password",
    required: true, placeholder: "sk-ag-…", spellcheck: "false" });
  const status = h("p", { class: "status-line", id: "login-status", role: "alert" });
  const button = h("button", { type: "submit", class: "primary", text: "Sign in" });
  const form = h("form", { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title", text: "antigravityd" }),
    h("p", { class: "muted", text: "Sign in with the daemon's API key." }),
    h("label", { for: "api-key", text: "API key" }),
    input,
    button,
    status,
    h("p", { class: "hint" },
      "The key was printed when the daemon first started and is kept in ", h("code", { text: "<data_dir>/api.key" }),
      " (or set as ", h("code", { text: "security.api_key" }), " in the config file). ",
      "It is stored only in this browser."));
  if (message) setStatus(status, message, "info");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    setStatus(status, "Checking…", "info");
    try {
      await api("/api/status", { key });
      storeKey(key);
      navigate("dashboard");
    } catch (error) {
      setStatus(status, explain(error), "error");
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  main.append(h("div", { class: "login-wrap" }, form));
  input.focus();
}
