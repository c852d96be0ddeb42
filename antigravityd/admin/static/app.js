// The single-page shell: sign-in state, navigation between pages (history API under /ui/<page>), and the
// header's status. Each page module exports render(main, ctx) and may return a cleanup function (timers).

import { api, forgetKey, onUnauthorized, storedKey } from "/ui/api.js";
import { clear, fmtDuration, tickCountdowns, toast } from "/ui/dom.js";
import * as login from "/ui/pages/login.js";
import * as dashboard from "/ui/pages/dashboard.js";
import * as accounts from "/ui/pages/accounts.js";
import * as monitor from "/ui/pages/monitor.js";
import * as routing from "/ui/pages/routing.js";
import * as settings from "/ui/pages/settings.js";

const PAGES = { login, dashboard, accounts, monitor, routing, settings };
const TITLES = { login: "Sign in", dashboard: "Dashboard", accounts: "Accounts", monitor: "Monitor",
  routing: "Routing", settings: "Settings" };

const main = document.getElementById("main");
const top = document.getElementById("top");
let cleanup = null;
let statusTimer = null;

function pageFromPath(path) {
  const name = path.replace(/^\/ui\/?/, "").split("/")[0];
  return PAGES[name] ? name : "dashboard";
}

export function navigate(page, { replace = false, message } = {}) {
  const url = `/ui/${page}`;
  if (replace) history.replaceState({}, "", url);
  else if (location.pathname !== url) history.pushState({}, "", url);
  show(page, message);
}

async function refreshStatus() {
  try {
    const s = await api("/api/status");
    const line = `v${s.version} · ${s.backend} · ${s.accounts.usable}/${s.accounts.total} accounts usable · ` +
      `${s.in_flight} in flight · up ${fmtDuration(s.uptime_seconds)}`;
    document.getElementById("top-status").textContent = line;
  } catch {
    // the page shows its own errors; the header keeps its last line
  }
}

function show(page, message) {
  if (cleanup) { cleanup(); cleanup = null; }
  clearInterval(statusTimer);
  if (page !== "login" && !storedKey()) page = "login";
  const signedIn = page !== "login";
  top.hidden = !signedIn;
  for (const a of top.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${TITLES[page]} · antigravityd`;
  clear(main);
  main.dataset.page = page;
  const ctx = { navigate, message };
  cleanup = PAGES[page].render(main, ctx) || null;
  if (signedIn) {
    refreshStatus();
    statusTimer = setInterval(refreshStatus, 10000);
  }
}

top.querySelector("nav").addEventListener("click", (event) => {
  const a = event.target.closest("a[data-page]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(a.dataset.page);
  main.focus();
});

document.getElementById("sign-out").addEventListener("click", () => {
  forgetKey();
  navigate("login", { message: "Signed out. The key was removed from this browser." });
});

onUnauthorized(() => {
  forgetKey();
  navigate("login", { replace: true, message: "The stored API key is no longer accepted. Sign in again." });
});

window.addEventListener("popstate", () => show(pageFromPath(location.pathname)));
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason?.name === "AbortError") return;
  toast(event.reason?.message || String(event.reason), "error");
});
setInterval(() => tickCountdowns(main), 1000);

const initial = location.pathname === "/" || location.pathname === "/ui/" ? "dashboard" : pageFromPath(location.pathname);
navigate(storedKey() ? initial : "login", { replace: true });
