// Monitor: the request log (metadata only — content is never recorded), polled every few seconds, with filters
// and "load older" paging; statistics per hour and per model.

import { api } from "/ui/api.js";
import { clear, fmtClock, fmtInt, fmtPercent, h, setStatus, statusLine, table } from "/ui/dom.js";

const POLL_MS = 3000;
const MAX_ROWS = 1000;

function statusBadge(code) {
  const kind = code >= 500 ? "bad" : code >= 400 ? "warn" : "good";
  return h("span", { class: `badge ${kind}`, text: String(code) });
}

function requestRow(r) {
  const model = r.mapped_model && r.mapped_model !== r.requested_model
    ? `${r.requested_model || "?"} → ${r.mapped_model}` : (r.requested_model || r.mapped_model || "–");
  return h("tr", {},
    h("td", { title: r.ts, text: fmtClock(r.ts) }),
    h("td", {}, statusBadge(r.status), r.error_class ? h("div", { class: "muted", text: r.error_class }) : null),
    h("td", { text: r.dialect }),
    h("td", { text: model }),
    h("td", { text: r.account_email || "–" }),
    h("td", { class: "path", text: r.path }),
    h("td", { class: "num", text: `${fmtInt(r.tokens_in)} / ${fmtInt(r.tokens_out)}` +
      (r.tokens_cached ? ` (${fmtInt(r.tokens_cached)} cached)` : "") }),
    h("td", { class: "num", text: `${fmtInt(r.latency_ms)} ms` + (r.ttfb_ms !== null ? ` (${fmtInt(r.ttfb_ms)})` : "") }),
    h("td", { text: r.stream ? "stream" : "" }));
}

function statsTable(rows, first) {
  return table([first, "Requests", "Errors", "Tokens in", "Tokens out", "Cached", "Avg latency"],
    rows.map((r) => h("tr", {},
      h("td", { text: first === "Hour" ? new Date(r.start).toLocaleString([], { month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit" }) : r.label || r.key || "(none)" }),
      h("td", { class: "num", text: fmtInt(r.requests) }),
      h("td", { class: "num", text: `${fmtInt(r.errors)}${r.requests ? ` (${fmtPercent(r.errors / r.requests)})` : ""}` }),
      h("td", { class: "num", text: fmtInt(r.tokens_in) }),
      h("td", { class: "num", text: fmtInt(r.tokens_out) }),
      h("td", { class: "num", text: fmtInt(r.tokens_cached) }),
      h("td", { class: "num", text: r.avg_latency_ms === null ? "–" : `${fmtInt(Math.round(r.avg_latency_ms))} ms` }))),
    { empty: "No requests in this window." });
}

export function render(main) {
  let rows = [];
  let cursor = null;
  let paused = false;
  const status = statusLine("monitor-status");
  const model = h("input", { type: "text", id: "f-model", placeholder: "gemini-3-flash", spellcheck: "false" });
  const account = h("select", { id: "f-account" }, h("option", { value: "", text: "all accounts" }));
  const dialect = h("select", { id: "f-dialect" }, ["", "openai", "anthropic", "gemini"].map((d) =>
    h("option", { value: d, text: d || "all dialects" })));
  const errors = h("input", { type: "checkbox", id: "f-errors" });
  const pause = h("button", { type: "button", class: "secondary", text: "Pause", "aria-pressed": "false" });
  const older = h("button", { type: "button", class: "secondary", text: "Load older", disabled: true });
  const counters = h("div", { class: "stats" });
  const list = h("div", { id: "requests" });
  const hourly = h("div", {});
  const byModel = h("div", {});

  function query(extra = {}) {
    const p = new URLSearchParams({ limit: "100", ...extra });
    if (model.value.trim()) p.set("model", model.value.trim());
    if (account.value) p.set("account", account.value);
    if (dialect.value) p.set("dialect", dialect.value);
    if (errors.checked) p.set("errors_only", "true");
    return `/api/monitor/requests?${p}`;
  }

  function draw() {
    clear(list).append(table(["Time", "Status", "Dialect", "Model", "Account", "Path", "Tokens in / out",
      "Latency (first byte)", ""], rows.map(requestRow), { empty: "No requests match." }));
    older.disabled = !cursor;
  }

  async function poll() {
    if (paused) return;
    try {
      const page = await api(query());
      // New rows join the ones already shown (including pages loaded with "Load older"); past MAX_ROWS the
      // list starts over from the newest page.
      const known = new Set(rows.map((r) => r.request_id));
      const merged = [...page.requests.filter((r) => !known.has(r.request_id)), ...rows];
      if (!rows.length || merged.length > MAX_ROWS) {
        rows = page.requests;
        cursor = page.next_before;
      } else {
        rows = merged.sort((a, b) => b.ts_ms - a.ts_ms);
      }
      draw();
      setStatus(status, `Live · updated ${new Date().toLocaleTimeString()} · content is never recorded, only metadata`);
    } catch (error) {
      setStatus(status, `Could not load requests: ${error.message}`, "error");
    }
  }

  async function loadStats() {
    try {
      const [tokens, hours, models, accounts] = await Promise.all([api("/api/monitor/tokens?since=24h"),
        api("/api/monitor/stats?by=hour&since=24h"), api("/api/monitor/stats?by=model&since=24h"),
        api("/api/accounts")]);
      clear(counters).append(
        ...[["Requests (24 h)", fmtInt(tokens.requests)], ["Errors", fmtInt(tokens.errors)],
          ["Tokens in", fmtInt(tokens.tokens_in)], ["Tokens out", fmtInt(tokens.tokens_out)],
          ["Cache hits", fmtPercent(tokens.cache_hit_rate, 1)]].map(([label, value]) =>
          h("div", { class: "stat" }, h("span", { class: "stat-label", text: label }),
            h("span", { class: "stat-value", text: value }))));
      clear(hourly).append(statsTable(hours.rows, "Hour"));
      clear(byModel).append(statsTable(models.rows, "Model"));
      const chosen = account.value;
      clear(account).append(h("option", { value: "", text: "all accounts" }),
        accounts.accounts.map((a) => h("option", { value: a.id, text: a.email, selected: a.id === chosen })));
    } catch (error) {
      setStatus(status, `Could not load statistics: ${error.message}`, "error");
    }
  }

  function refilter() { rows = []; cursor = null; poll(); }
  for (const el of [account, dialect, errors]) el.addEventListener("change", refilter);
  model.addEventListener("change", refilter);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    setStatus(status, paused ? "Paused: the list is not updated." : "Resuming…");
    if (!paused) poll();
  });
  older.addEventListener("click", async () => {
    older.disabled = true;
    try {
      const page = await api(query({ before: cursor }));
      const known = new Set(rows.map((r) => r.request_id));
      rows = [...rows, ...page.requests.filter((r) => !known.has(r.request_id))];
      cursor = page.next_before;
      draw();
    } catch (error) {
      setStatus(status, `Could not load older requests: ${error.message}`, "error");
    }
  });

  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Monitor" }), h("div", { class: "head-actions" }, pause)),
    h("p", { class: "notice", text: "Only request metadata is recorded (time, route, model, account, status, " +
      "token counts, latency). Prompts and responses are never stored or logged." }),
    counters,
    h("div", { class: "toolbar" },
      h("label", { for: "f-model", text: "Model" }), model,
      h("label", { for: "f-account", text: "Account" }), account,
      h("label", { for: "f-dialect", text: "Dialect" }), dialect,
      h("span", { class: "check" }, errors, h("label", { for: "f-errors", text: "errors only" }))),
    status, list, h("div", { class: "actions" }, older),
    h("section", { "aria-labelledby": "hourly-h" }, h("h2", { id: "hourly-h", text: "Per hour (24 h)" }), hourly),
    h("section", { "aria-labelledby": "model-h" }, h("h2", { id: "model-h", text: "Per model (24 h)" }), byModel));
  poll();
  loadStats();
  const timers = [setInterval(poll, POLL_MS), setInterval(loadStats, 30000)];
  return () => timers.forEach(clearInterval);
}
