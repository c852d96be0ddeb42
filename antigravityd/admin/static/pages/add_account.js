// The add-account dialog: Google sign-in for a headless server (open the link anywhere, then paste the address
// the browser ended on), or a paste of refresh tokens. Both call the daemon's onboarding endpoints; when this
// build has none, the dialog says so instead of failing silently.

import { api, missingFeature } from "/ui/api.js";
import { clear, h, setStatus } from "/ui/dom.js";
import { parseRefreshTokens } from "/ui/tokens.js";

const MISSING = "This daemon build does not offer that yet (the onboarding endpoint is missing). " +
  "Use `antigravityd accounts add` or `accounts import` on the server instead.";

function tabs(panels) {
  const list = h("div", { role: "tablist", "aria-label": "How to add an account" });
  const buttons = panels.map(([id, label], i) => h("button", { type: "button", role: "tab", id: `tab-${id}`,
    "aria-controls": `panel-${id}`, "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? 0 : -1,
    text: label }));
  const bodies = panels.map(([id, , body], i) => h("div", { role: "tabpanel", id: `panel-${id}`,
    "aria-labelledby": `tab-${id}`, hidden: i !== 0 }, body));
  buttons.forEach((button, i) => button.addEventListener("click", () => {
    buttons.forEach((b, j) => { b.setAttribute("aria-selected", String(i === j)); b.tabIndex = i === j ? 0 : -1; });
    bodies.forEach((b, j) => { b.hidden = i !== j; });
  }));
  list.append(...buttons);
  return [list, ...bodies];
}

function oauthPanel(onAdded) {
  let state = null;
  const status = h("p", { class: "status-line", role: "status", "aria-live": "polite" });
  const linkBox = h("div", { class: "oauth-link", hidden: true });
  const callback = h("input", { type: "text", id: "oauth-callback", autocomplete: "off", spellcheck: "false",
    placeholder: "http://localhost:…/api/oauth/callback?state=…&code=…" });
  const finish = h("button", { type: "button", class: "primary", text: "Finish", disabled: true });
  const start = h("button", { type: "button", class: "secondary", text: "Get sign-in link" });

  start.addEventListener("click", async () => {
    start.disabled = true;
    setStatus(status, "Asking the daemon for a sign-in link…");
    try {
      const answer = await api("/api/oauth/url");
      state = answer.state;
      const field = h("input", { type: "text", readonly: true, value: answer.url, id: "oauth-url",
        "aria-label": "Sign-in link" });
      const copy = h("button", { type: "button", class: "secondary", text: "Copy link" });
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(answer.url);
          setStatus(status, "Link copied.");
        } catch {
          field.select(); // no clipboard API on plain-HTTP pages: select it for Ctrl+C instead
          setStatus(status, "Press Ctrl+C to copy the selected link.");
        }
      });
      clear(linkBox).append(
        h("p", {}, "1. ", h("a", { href: answer.url, target: "_blank", rel: "noopener noreferrer",
          text: "Open the Google sign-in page" }), " (or copy the link to a browser on another machine)."),
        h("div", { class: "row" }, field, copy),
        h("p", { class: "muted", text: `Google sends the browser back to ${answer.redirect_uri}. On a headless ` +
          "server that page may not load — that is fine: copy the whole address from the address bar." }));
      linkBox.hidden = false;
      finish.disabled = false;
      setStatus(status, "2. After signing in, paste the address below and press Finish.");
    } catch (error) {
      setStatus(status, missingFeature(error) ? MISSING : `Could not start sign-in: ${error.message}`, "error");
    } finally {
      start.disabled = false;
    }
  });

  finish.addEventListener("click", async () => {
    const text = callback.value.trim();
    if (!text) { setStatus(status, "Paste the address (or the code) first.", "error"); callback.focus(); return; }
    finish.disabled = true;
    setStatus(status, "Finishing sign-in…");
    try {
      const body = /^https?:\/\//.test(text) ? { state, callback_url: text } : { state, code: text };
      const added = await api("/api/oauth/submit-code", { method: "POST", body });
      setStatus(status, `Added ${added.email}.`, "ok");
      callback.value = "";
      onAdded();
    } catch (error) {
      setStatus(status, missingFeature(error) ? MISSING : `Sign-in failed: ${error.message}`, "error");
    } finally {
      finish.disabled = false;
    }
  });

  return h("div", {},
    h("p", { text: "Sign in with the Google account to add. Works on a headless server: the link can be opened " +
      "on any machine." }),
    start, linkBox,
    h("label", { for: "oauth-callback", text: "Address the browser ended on (or the code)" }), callback,
    h("div", { class: "actions" }, finish), status);
}

function tokenPanel(onAdded) {
  const area = h("textarea", { id: "token-paste", rows: 7, spellcheck: "false", autocomplete: "off",
    placeholder: '["1//0g…", "1//0h…"]  or  [{"email": "…", "refresh_token": "1//…"}]  or any text with 1//… tokens' });
  const count = h("p", { class: "muted", id: "token-count", "aria-live": "polite", text: "No tokens found yet." });
  const add = h("button", { type: "button", class: "primary", text: "Add accounts", disabled: true });
  const status = h("div", { class: "status-line", role: "status", "aria-live": "polite" });

  area.addEventListener("input", () => {
    const n = parseRefreshTokens(area.value).length;
    count.textContent = n ? `${n} refresh token${n === 1 ? "" : "s"} found.` : "No tokens found yet.";
    add.disabled = n === 0;
  });
  add.addEventListener("click", async () => {
    const tokens = parseRefreshTokens(area.value);
    add.disabled = true;
    setStatus(status, `Adding ${tokens.length}…`);
    try {
      let result;
      try {
        result = await api("/api/accounts/add-by-token", { method: "POST", body: { refresh_tokens: tokens } });
      } catch (error) {
        if (!Array.isArray(error.body?.failed)) throw error;
        result = error.body; // every token failed: the per-token reasons are in the body
      }
      const added = result.added || [], failed = result.failed || [];
      clear(status).append(h("p", { text: `Added ${added.length} account${added.length === 1 ? "" : "s"}, ` +
        `${failed.length} failed.` }),
      h("ul", {}, added.map((a) => h("li", { text: `${a.email}${a.created ? "" : " (updated)"}` })),
        failed.map((f) => h("li", { class: "error", text: `${f.hint}: ${f.error}` }))));
      status.dataset.kind = failed.length ? "error" : "ok";
      if (added.length) { area.value = ""; onAdded(); }
    } catch (error) {
      setStatus(status, missingFeature(error) ? MISSING : `Could not add: ${error.message}`, "error");
    } finally {
      add.disabled = parseRefreshTokens(area.value).length === 0;
    }
  });
  return h("div", {},
    h("label", { for: "token-paste", text: "Paste refresh tokens" }), area, count,
    h("p", { class: "hint", text: "Tokens go to this daemon only and are stored encrypted; the email is looked up " +
      "with Google." }),
    h("div", { class: "actions" }, add), status);
}

export function openAddAccount(onAdded) {
  const close = h("button", { type: "button", class: "secondary", text: "Close" });
  const dialog = h("dialog", { class: "wide", id: "add-account", "aria-labelledby": "add-title" },
    h("h2", { id: "add-title", text: "Add account" }),
    ...tabs([["oauth", "Google sign-in", oauthPanel(onAdded)], ["tokens", "Refresh tokens", tokenPanel(onAdded)]]),
    h("div", { class: "actions" }, close));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
