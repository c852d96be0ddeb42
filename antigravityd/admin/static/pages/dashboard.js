// Dashboard: accounts by tier, average remaining quota per model family, low-quota accounts, and the last 24 h
// of traffic (requests, errors, tokens, cache hits) with an hourly chart.

import { api } from "/ui/api.js";
import { clear, fmtInt, fmtPercent, h, statusLine, setStatus, table } from "/ui/dom.js";

const LOW = 20;
const TIERS = ["ultra-business", "ultra", "pro", "free", "unknown"];

export function family(model) {
  if (model.includes("image")) return "image";
  if (model.startsWith("claude")) return "claude";
  if (model.startsWith("gemini")) return "gemini";
  return "other";
}

// Per account: the average over its models of each family; then the average over accounts that have any.
export function summarize(accounts) {
  const sums = { gemini: [], claude: [], image: [] };
  let low = 0;
  const tiers = Object.fromEntries(TIERS.map((t) => [t, 0]));
  for (const a of accounts) {
    tiers[TIERS.includes(a.tier) ? a.tier : "unknown"] += 1;
    const per = { gemini: [], claude: [], image: [] };
    const models = Object.entries(a.quota?.models || {});
    for (const [name, q] of models) {
      const f = family(name);
      if (per[f]) per[f].push(q.percent);
    }
    for (const f of Object.keys(sums)) {
      if (per[f].length) sums[f].push(per[f].reduce((x, y) => x + y, 0) / per[f].length);
    }
    if (models.some(([, q]) => q.percent < LOW)) low += 1;
  }
  const avg = Object.fromEntries(Object.entries(sums).map(([f, xs]) => [f,
    xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : null]));
  return { tiers, avg, low };
}

function card(label, value, note, kind = "") {
  return h("div", { class: `stat ${kind}` },
    h("span", { class: "stat-label", text: label }),
    h("span", { class: "stat-value", text: value }),
    note ? h("span", { class: "stat-note", text: note }) : null);
}

function quotaCard(label, value) {
  if (value === null) return card(label, "–", "no data");
  return card(label, `${Math.round(value)} %`, value >= 50 ? "sufficient" : "low", value >= 50 ? "good" : "warn");
}

// The last 24 whole hours, oldest first, with empty hours as zero columns.
export function lastDay(rows, now = Date.now()) {
  const byStart = new Map(rows.map((r) => [new Date(r.start).getTime(), r]));
  const hour = 3600 * 1000;
  const current = Math.floor(now / hour) * hour;
  return Array.from({ length: 24 }, (_, i) => {
    const start = current - (23 - i) * hour;
    return byStart.get(start) || { start: new Date(start).toISOString(), requests: 0, errors: 0 };
  });
}

function hourlyChart(rows) {
  const hours = lastDay(rows);
  const max = Math.max(1, ...hours.map((r) => r.requests));
  const column = (r) => h("div", { class: "col", title: `${new Date(r.start).toLocaleString()}: ${r.requests} ` +
    `requests, ${r.errors} errors` },
  h("span", { class: "col-bar", style: { height: `${(100 * r.requests) / max}%` } },
    h("span", { class: "col-err", style: { height: r.requests ? `${(100 * r.errors) / r.requests}%` : "0" } })),
  h("span", { class: "col-label", text: new Date(r.start).getHours() }));
  return h("div", { class: "chart", role: "img",
    "aria-label": `Requests per hour over the last 24 hours, at most ${max} in one hour` }, hours.map(column));
}

export function render(main) {
  const body = h("div", { class: "dash-body" });
  const status = statusLine("dash-status");
  const refresh = h("button", { type: "button", class: "secondary", text: "Refresh" });
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Dashboard" }), refresh), status, body);

  async function load() {
    refresh.disabled = true;
    try {
      const [accounts, tokens, hours] = await Promise.all([
        api("/api/accounts"), api("/api/monitor/tokens?since=24h"), api("/api/monitor/stats?by=hour&since=24h")]);
      const s = summarize(accounts.accounts);
      clear(body).append(
        h("section", { "aria-labelledby": "acc-h" }, h("h2", { id: "acc-h", text: "Accounts" }),
          h("div", { class: "stats" },
            card("Total accounts", fmtInt(accounts.total), `${accounts.usable} usable`),
            ...TIERS.filter((t) => s.tiers[t] || t !== "ultra-business").map((t) => card(t, fmtInt(s.tiers[t]))),
            card("Low quota", fmtInt(s.low), `a model below ${LOW} %`, s.low ? "warn" : ""))),
        h("section", { "aria-labelledby": "quota-h" }, h("h2", { id: "quota-h", text: "Average quota left" }),
          h("div", { class: "stats" },
            quotaCard("Gemini", s.avg.gemini), quotaCard("Claude", s.avg.claude), quotaCard("Image", s.avg.image))),
        h("section", { "aria-labelledby": "traffic-h" }, h("h2", { id: "traffic-h", text: "Last 24 hours" }),
          h("div", { class: "stats" },
            card("Requests", fmtInt(tokens.requests)),
            card("Errors", fmtInt(tokens.errors), tokens.requests ? fmtPercent(tokens.errors / tokens.requests, 1) : "",
              tokens.errors ? "warn" : ""),
            card("Tokens in", fmtInt(tokens.tokens_in)),
            card("Tokens out", fmtInt(tokens.tokens_out)),
            card("Cache hits", fmtPercent(tokens.cache_hit_rate, 1), `${fmtInt(tokens.tokens_cached)} cached tokens`)),
          hourlyChart(hours.rows)),
        h("section", { "aria-labelledby": "low-h" }, h("h2", { id: "low-h", text: "Accounts needing attention" }),
          table(["Account", "Status", "Reason"], accounts.accounts.filter((a) => !["idle", "active"].includes(a.status))
            .map((a) => h("tr", {}, h("td", { text: a.email }), h("td", { text: a.status.replaceAll("_", " ") }),
              h("td", { text: a.disabled_reason || a.proxy_disabled_reason ||
                [...new Set(a.lockouts.map((l) => l.reason))].join("; ") || "" }))),
            { empty: "All accounts are fine." })));
      setStatus(status, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      setStatus(status, `Could not load the dashboard: ${error.message}`, "error");
    } finally {
      refresh.disabled = false;
    }
  }

  refresh.addEventListener("click", load);
  load();
  const timer = setInterval(load, 30000);
  return () => clearInterval(timer);
}
