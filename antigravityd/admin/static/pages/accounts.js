// Accounts: one row per account with its state, per-model quota bars with reset countdowns, load and health;
// row actions (refresh quota, warm up, take out of / back into the proxy pool with a reason, history, delete)
// and page actions (refresh all quotas, warm up all, add an account).

import { api, missingFeature } from "/ui/api.js";
import { ask, badge, clear, fmtPercent, fmtTime, h, quotaBar, setStatus, statusLine, table, toast } from "/ui/dom.js";
import { openAddAccount } from "/ui/pages/add_account.js";

const FILTERS = [["all", "All"], ["ultra", "Ultra"], ["pro", "Pro"], ["free", "Free"], ["attention", "Needs attention"]];
const STATUS_TEXT = { active: "active (serving now)", idle: "idle, ready", locked: "locked out (rate limit)",
  proxy_disabled: "taken out of the proxy pool", verification_required: "needs verification",
  banned: "banned by Google", disabled: "disabled" };
const UNAVAILABLE = "not available in this daemon build yet";

function lockText(account) {
  return account.lockouts.map((l) => `${l.model || "all models"}: ${l.reason} (${Math.ceil(l.remaining)} s left)`)
    .join("\n");
}

function warmText(email, r) {
  if (!r || !Array.isArray(r.warmed)) return `Warm-up of ${email} done.`;
  const skipped = (r.skipped || []).length, failed = (r.failed || []).length;
  return `Warm-up of ${email}: ${r.warmed.length} model(s) warmed, ${skipped} skipped` +
    (failed ? `, ${failed} failed (${r.failed.map((f) => f.model).join(", ")})` : "") + ".";
}

function badges(a) {
  const out = [];
  if (a.flags.disabled) out.push(badge("disabled", "bad", a.disabled_reason || "disabled"));
  if (a.flags.banned) out.push(badge("banned", "bad", a.proxy_disabled_reason));
  if (a.flags.verification_required) {
    out.push(a.verification_url
      ? h("a", { class: "badge warn", href: a.verification_url, target: "_blank", rel: "noopener noreferrer",
        title: "Open Google's verification page", text: "verification required" })
      : badge("verification required", "warn", a.proxy_disabled_reason));
  } else if (a.flags.proxy_disabled && !a.flags.banned) {
    out.push(badge("proxy off", "muted", a.proxy_disabled_reason || ""));
  }
  if (a.flags.locked) out.push(badge("locked", "warn", lockText(a)));
  if (a.flags.forbidden) out.push(badge("quota 403", "warn", "Google refused the quota request (403)"));
  if (a.project_is_default) out.push(badge("default project", "muted", "Google gave no project; using the fallback"));
  return out;
}

function matches(a, filter, search) {
  if (search && !a.email.includes(search) && !(a.name || "").toLowerCase().includes(search)) return false;
  if (filter === "all") return true;
  if (filter === "attention") return !["idle", "active"].includes(a.status);
  return a.tier.startsWith(filter) && (filter !== "ultra" || a.tier.startsWith("ultra"));
}

export function render(main) {
  let accounts = [];
  let filter = "all";
  const status = statusLine("accounts-status");
  const search = h("input", { type: "search", id: "account-search", placeholder: "email or name" });
  const filterBox = h("select", { id: "account-filter" }, FILTERS.map(([v, t]) => h("option", { value: v, text: t })));
  const body = h("div", { id: "accounts-table" });
  const refreshAll = h("button", { type: "button", class: "secondary", text: "Refresh all quotas" });
  const warmAll = h("button", { type: "button", class: "secondary", text: "Warm up all" });
  const add = h("button", { type: "button", class: "primary", text: "Add account" });

  async function act(button, work, done) {
    button.disabled = true;
    try {
      const message = await work();
      if (message) toast(message, "ok");
      await load();
    } catch (error) {
      toast(missingFeature(error) ? `${done}: ${UNAVAILABLE}` : `${done} failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  function actions(a) {
    const refresh = h("button", { type: "button", class: "small", text: "Refresh quota",
      "aria-label": `Refresh quota of ${a.email}` });
    refresh.addEventListener("click", () => act(refresh, async () => {
      await api(`/api/accounts/${a.id}/refresh-quota`, { method: "POST" });
      return `Quota of ${a.email} refreshed.`;
    }, "Quota refresh"));
    const warm = h("button", { type: "button", class: "small", text: "Warm up", "aria-label": `Warm up ${a.email}` });
    warm.addEventListener("click", () => act(warm, async () => {
      const r = await api(`/api/accounts/${a.id}/warmup`, { method: "POST" });
      return warmText(a.email, r);
    }, "Warm-up"));
    const proxy = h("button", { type: "button", class: "small", text: a.proxy_disabled ? "Use for proxy" : "Exclude",
      "aria-label": `${a.proxy_disabled ? "Use" : "Exclude"} ${a.email} ${a.proxy_disabled ? "for" : "from"} the proxy`,
      dataset: { action: "toggle-proxy" } });
    proxy.addEventListener("click", async () => {
      let body = { proxy_disabled: false };
      if (!a.proxy_disabled) {
        const reason = await ask({ title: `Exclude ${a.email}`, message: "The account stays stored but serves no " +
          "requests until you bring it back.", input: { label: "Reason (shown on the badge)", placeholder:
          "e.g. shared with a colleague" }, confirm: "Exclude" });
        if (reason === null) return;
        body = { proxy_disabled: true, reason: reason || undefined };
      }
      act(proxy, async () => {
        await api(`/api/accounts/${a.id}`, { method: "PATCH", body });
        return body.proxy_disabled ? `${a.email} excluded from the proxy.` : `${a.email} serves requests again.`;
      }, "Change");
    });
    const out = [refresh, warm, proxy];
    if (a.disabled) {
      const enable = h("button", { type: "button", class: "small", text: "Re-enable", "aria-label":
        `Re-enable ${a.email}` });
      enable.addEventListener("click", () => act(enable, async () => {
        await api(`/api/accounts/${a.id}`, { method: "PATCH", body: { disabled: false } });
        return `${a.email} re-enabled.`;
      }, "Re-enable"));
      out.push(enable);
    }
    const history = h("button", { type: "button", class: "small", text: "History", "aria-label":
      `History of ${a.email}` });
    history.addEventListener("click", () => showHistory(a));
    const del = h("button", { type: "button", class: "small danger", text: "Delete", "aria-label": `Delete ${a.email}` });
    del.addEventListener("click", async () => {
      const ok = await ask({ title: `Delete ${a.email}?`, message: "Its tokens and quota are removed from the " +
        "store; its history stays in the event log. Add it again later to use it.", confirm: "Delete", danger: true });
      if (ok) act(del, async () => { await api(`/api/accounts/${a.id}`, { method: "DELETE" }); return `${a.email} deleted.`; },
        "Delete");
    });
    out.push(history, del);
    return h("div", { class: "row-actions" }, out);
  }

  function row(a) {
    const models = Object.entries(a.quota.models);
    return h("tr", { dataset: { accountId: a.id, email: a.email } },
      h("td", {}, h("span", { class: `dot ${a.status}`, role: "img", "aria-label": STATUS_TEXT[a.status] || a.status,
        title: STATUS_TEXT[a.status] || a.status })),
      h("td", { class: "who" }, h("div", { class: "email", text: a.email }),
        a.name ? h("div", { class: "muted", text: a.name }) : null,
        h("div", { class: "badges" }, badges(a)),
        a.proxy_disabled_reason || a.disabled_reason
          ? h("div", { class: "reason muted", text: a.disabled_reason || a.proxy_disabled_reason }) : null),
      h("td", {}, badge(a.tier, `tier ${a.tier}`, a.tier_id || "")),
      h("td", { class: "quotas" }, models.length ? models.map(([m, q]) => quotaBar(m, q))
        : h("span", { class: "muted", text: a.quota.fetched_at ? "no models reported" : "not fetched yet" })),
      h("td", { class: "num", text: a.max_in_flight ? `${a.in_flight}/${a.max_in_flight}` : `${a.in_flight}` }),
      h("td", { class: "num", title: `circuit ${a.circuit || "–"}; last used ${fmtTime(a.last_used_at)}` },
        a.health === null ? "–" : fmtPercent(a.health), a.circuit && a.circuit !== "closed"
          ? h("div", { class: "muted", text: `circuit ${a.circuit.replace("_", "-")}` }) : null),
      h("td", {}, actions(a)));
  }

  function draw() {
    const needle = search.value.trim().toLowerCase();
    const shown = accounts.filter((a) => matches(a, filter, needle));
    clear(body).append(table(["", "Account", "Tier", "Quota left", "In flight", "Health", "Actions"],
      shown.map(row), { caption: `${shown.length} of ${accounts.length} accounts`,
        empty: accounts.length ? "No account matches." : "No accounts yet: add one." }));
  }

  async function load() {
    try {
      accounts = (await api("/api/accounts")).accounts;
      draw();
      setStatus(status, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      setStatus(status, `Could not load accounts: ${error.message}`, "error");
    }
  }

  async function showHistory(a) {
    const list = h("div", {}, h("p", { text: "Loading…" }));
    const close = h("button", { type: "button", class: "secondary", text: "Close" });
    const dialog = h("dialog", { class: "wide", "aria-labelledby": "hist-title" },
      h("h2", { id: "hist-title", text: `History of ${a.email}` }), list, h("div", { class: "actions" }, close));
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    try {
      const page = await api(`/api/accounts/${a.id}/events?limit=100`);
      clear(list).append(table(["When", "Event", "Details"], page.events.map((e) => h("tr", {},
        h("td", { text: fmtTime(e.created_at) }), h("td", { text: e.kind.replaceAll("_", " ") }),
        h("td", { class: "details", text: Object.entries(e.details).map(([k, v]) => `${k}: ${
          typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") })))));
    } catch (error) {
      clear(list).append(h("p", { class: "error", text: error.message }));
    }
  }

  refreshAll.addEventListener("click", () => act(refreshAll, async () => {
    const r = await api("/api/accounts/refresh-all-quotas", { method: "POST" });
    return r && r.total !== undefined ? `Quotas refreshed: ${r.success} of ${r.total}` +
      (r.failed ? `, ${r.failed} failed.` : ".") : "Quotas refreshed.";
  }, "Refresh all"));
  warmAll.addEventListener("click", async () => {
    const ok = await ask({ title: "Warm up every account?", message: "Sends one tiny request to each model that " +
      "is at 100 % so its reset window starts.", confirm: "Warm up" });
    if (ok) {
      act(warmAll, async () => {
        const r = await api("/api/accounts/warmup-all", { method: "POST" });
        return r && r.accounts !== undefined
          ? `Warm-up: ${r.warmed} model(s) warmed on ${r.accounts} account(s), ${r.failed} failed.` : "Warm-up done.";
      }, "Warm up all");
    }
  });
  add.addEventListener("click", () => openAddAccount(load));
  search.addEventListener("input", draw);
  filterBox.addEventListener("change", () => { filter = filterBox.value; draw(); });

  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Accounts" }),
      h("div", { class: "head-actions" }, refreshAll, warmAll, add)),
    h("div", { class: "toolbar" },
      h("label", { for: "account-search", text: "Search" }), search,
      h("label", { for: "account-filter", text: "Show" }), filterBox),
    status, body);
  load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
