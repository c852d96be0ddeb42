// Routing: current lockouts (with clear buttons), circuit breakers, AIMD rate ceilings, health scores, and the
// sticky-session bindings. All of it is this instance's in-memory state.

import { api } from "/ui/api.js";
import { badge, clear, countdownEl, fmtInt, fmtPercent, h, setStatus, statusLine, table, toast } from "/ui/dom.js";

export function render(main) {
  const status = statusLine("routing-status");
  const locks = h("div", { id: "lockouts" });
  const circuits = h("div", {});
  const aimd = h("div", {});
  const health = h("div", {});
  const clearAll = h("button", { type: "button", class: "secondary", text: "Clear all lockouts" });
  const unbind = h("button", { type: "button", class: "secondary", text: "Clear sticky bindings" });
  const bindings = h("span", { class: "muted" });

  async function run(button, work) {
    button.disabled = true;
    try {
      toast(await work(), "ok");
      await load();
    } catch (error) {
      toast(`Failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  function lockRows(accounts) {
    const out = [];
    for (const a of accounts) {
      a.lockouts.forEach((l, i) => {
        const cells = [h("td", { text: a.email }), h("td", { text: l.scope }), h("td", { text: l.model || "all" }),
          h("td", { class: "reason", text: l.reason }),
          h("td", {}, countdownEl(new Date(l.until * 1000), "ends in"))];
        if (i === 0) {
          const button = h("button", { type: "button", class: "small", text: "Clear",
            "aria-label": `Clear the lockouts of ${a.email}` });
          button.addEventListener("click", () => run(button, async () => {
            const r = await api(`/api/proxy/rate-limits/${a.id}`, { method: "DELETE" });
            return `Cleared ${r.cleared} lockout(s) of ${a.email}.`;
          }));
          cells.push(h("td", { rowspan: a.lockouts.length }, button));
        }
        out.push(h("tr", {}, cells));
      });
    }
    return out;
  }

  async function load() {
    try {
      const [accounts, c, m, hl] = await Promise.all([api("/api/accounts"), api("/api/resilience/circuits"),
        api("/api/resilience/aimd"), api("/api/resilience/health")]);
      const emails = Object.fromEntries(accounts.accounts.map((a) => [a.id, a.email]));
      const total = accounts.accounts.reduce((n, a) => n + a.session_bindings, 0);
      bindings.textContent = `${total} conversation${total === 1 ? "" : "s"} bound to an account`;
      clear(locks).append(table(["Account", "Scope", "Model", "Reason", "Until", ""],
        lockRows(accounts.accounts), { empty: "No account is locked out." }));
      clear(circuits).append(
        h("p", { class: "muted", text: `closed ${c.counts.closed} · open ${c.counts.open} · half-open ` +
          `${c.counts.half_open}` }),
        table(["Account", "State", "Consecutive failures", "Trips", "Reopens in"], c.accounts.map((x) => h("tr", {},
          h("td", { text: x.email }), h("td", {}, badge(x.state.replace("_", "-"), x.state === "closed" ? "good" : "bad")),
          h("td", { class: "num", text: fmtInt(x.consecutive_failures) }), h("td", { class: "num", text: fmtInt(x.trips) }),
          h("td", { text: x.opens_for ? `${Math.ceil(x.opens_for)} s` : "–" })))));
      clear(aimd).append(
        h("p", { class: "muted", text: `Accounts above a usage ratio of ${m.max_usage_ratio} are skipped ` +
          `(${m.skipped_accounts} now).` }),
        table(["Account", "Learned limit (req/min)", "Rate", "Usage", "Raised", "Cut", ""], m.accounts.map((x) =>
          h("tr", {}, h("td", { text: emails[x.id] || x.email }), h("td", { class: "num", text: fmtInt(x.limit) }),
            h("td", { class: "num", text: x.rate }), h("td", { class: "num", text: fmtPercent(x.usage_ratio) }),
            h("td", { class: "num", text: fmtInt(x.rewards) }), h("td", { class: "num", text: fmtInt(x.penalties) }),
            h("td", {}, x.skipped ? badge("skipped", "warn") : null)))));
      clear(health).append(
        h("p", { class: "muted", text: `${hl.healthy_accounts} healthy, ${hl.usable_accounts} usable, ` +
          `${hl.disabled_accounts} out of service.` }),
        table(["Account", "Score", "Recent ok / failed", "Total ok / failed", "Circuit", ""], hl.accounts.map((x) =>
          h("tr", {}, h("td", { text: x.email }), h("td", { class: "num", text: fmtPercent(x.score) }),
            h("td", { class: "num", text: `${x.recent_successes.toFixed(1)} / ${x.recent_failures.toFixed(1)}` }),
            h("td", { class: "num", text: `${fmtInt(x.total_successes)} / ${fmtInt(x.total_failures)}` }),
            h("td", { text: x.circuit || "–" }),
            h("td", {}, x.healthy ? badge("healthy", "good") : badge(x.usable ? "degraded" : "out", "warn"))))));
      setStatus(status, `Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      setStatus(status, `Could not load routing state: ${error.message}`, "error");
    }
  }

  clearAll.addEventListener("click", () => run(clearAll, async () => {
    const r = await api("/api/proxy/rate-limits", { method: "DELETE" });
    return `Cleared ${r.cleared} lockout(s).`;
  }));
  unbind.addEventListener("click", () => run(unbind, async () => {
    const r = await api("/api/proxy/clear-bindings", { method: "POST" });
    return `Dropped ${r.cleared} sticky binding(s).`;
  }));

  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Routing" })), status,
    h("section", { "aria-labelledby": "locks-h" },
      h("div", { class: "section-head" }, h("h2", { id: "locks-h", text: "Lockouts" }), clearAll), locks),
    h("section", { "aria-labelledby": "bind-h" },
      h("div", { class: "section-head" }, h("h2", { id: "bind-h", text: "Sticky sessions" }), unbind),
      h("p", {}, bindings, ". A bound conversation stays on its account while that account is eligible (it keeps " +
        "the upstream cache warm).")),
    h("section", { "aria-labelledby": "circ-h" }, h("h2", { id: "circ-h", text: "Circuit breakers" }), circuits),
    h("section", { "aria-labelledby": "aimd-h" }, h("h2", { id: "aimd-h", text: "Adaptive rate limits (AIMD)" }), aimd),
    h("section", { "aria-labelledby": "health-h" }, h("h2", { id: "health-h", text: "Health" }), health));
  load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
