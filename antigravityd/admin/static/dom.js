// Small DOM and formatting helpers. Everything is built with createElement/textContent — never innerHTML — so
// emails, reasons and model names from the server can never be interpreted as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = "toast"; }, kind === "error" ? 8000 : 4000);
}

// A status line inside a page (aria-live), for results that belong next to the control that caused them.
export function statusLine(id) {
  return h("p", { class: "status-line", id, role: "status", "aria-live": "polite" });
}

export function setStatus(el, message, kind = "info") {
  el.textContent = message;
  el.dataset.kind = kind;
}

// ------------------------------------------------------------------------------------------------- formatting

export function fmtInt(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function fmtPercent(fraction, digits = 0) {
  return fraction === null || fraction === undefined ? "–" : `${(fraction * 100).toFixed(digits)} %`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleString();
}

export function fmtClock(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleTimeString();
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${mm}m`;
  if (mm > 0) return `${mm}m ${s % 60}s`;
  return `${s}s`;
}

// A reset time given as epoch seconds (number) or RFC 3339 (string) → Date, or null.
export function resetDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

// "in 3h 12m" with a colour class: soon (< 1 h), later (1–6 h), far (> 6 h).
export function countdown(date, now = Date.now(), prefix = "resets in") {
  if (!date) return { text: "", cls: "" };
  const left = (date.getTime() - now) / 1000;
  if (left <= 0) return { text: prefix === "resets in" ? "reset due" : "over", cls: "soon" };
  const cls = left < 3600 ? "soon" : left < 6 * 3600 ? "later" : "far";
  return { text: `${prefix} ${fmtDuration(left)}`, cls };
}

// Countdowns refresh once a second without re-rendering: elements carry data-until (epoch ms).
export function tickCountdowns(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-until]")) {
    const c = countdown(new Date(Number(el.dataset.until)), now, el.dataset.prefix);
    el.textContent = c.text;
    el.className = `countdown ${c.cls}`;
  }
}

export function countdownEl(date, prefix = "resets in") {
  if (!date) return h("span", { class: "countdown" });
  const el = h("span", { class: "countdown", dataset: { until: String(date.getTime()), prefix },
    title: date.toLocaleString() });
  const c = countdown(date, Date.now(), prefix);
  el.textContent = c.text;
  el.classList.add(c.cls);
  return el;
}

export function quotaBar(model, quota) {
  const pct = Math.max(0, Math.min(100, quota.percent ?? 0));
  const level = pct <= 20 ? "q-critical" : pct <= 50 ? "q-warning" : "q-ok";
  const label = `${model}: ${pct} % left${quota.protected ? " (protected)" : ""}`;
  return h("div", { class: `quota ${level}${quota.protected ? " protected" : ""}`, title: label },
    h("span", { class: "quota-name", text: model }),
    h("span", { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": pct },
    h("span", { class: "fill", style: { width: `${pct}%` } })),
    h("span", { class: "quota-pct", text: `${pct}%` }),
    countdownEl(resetDate(quota.reset_at ?? quota.reset_time)));
}

export function badge(text, kind, title) {
  return h("span", { class: `badge ${kind}`, title: title || undefined, text });
}

export function table(headers, rows, { caption, empty = "Nothing to show." } = {}) {
  const t = h("table", {},
    caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", text: x })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "empty", text: empty }))));
  return h("div", { class: "table-wrap" }, t);
}

// A confirmation or input dialog built on <dialog>; resolves with the input's value (or true), or null.
export function ask({ title, message, input, confirm = "OK", danger = false }) {
  return new Promise((resolve) => {
    const field = input ? h("input", { type: "text", id: "ask-input", value: input.value || "", maxlength: 800,
      placeholder: input.placeholder || "" }) : null;
    const dialog = h("dialog", { class: "ask", "aria-labelledby": "ask-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "ask-title", text: title }),
        message ? h("p", { text: message }) : null,
        field ? h("label", { for: "ask-input", text: input.label }) : null,
        field,
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "secondary", text: "Cancel" }),
          h("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary", text: confirm }))));
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      dialog.remove();
      resolve(ok ? (field ? field.value.trim() : true) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (field || dialog.querySelector("button.primary, button.danger")).focus();
  });
}
