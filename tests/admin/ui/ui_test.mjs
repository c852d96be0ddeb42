// Drives the web UI in headless Chromium against a running daemon (started and seeded by
// tests/admin/test_ui_browser.py, which also checks through the API what the clicks changed).
//
// env: DAEMON_URL, API_KEY, CHROMIUM (path), SEEDED (JSON: {alice: {id, email}, bob: {...}}),
//      SCREENSHOT_DIR (optional: full-page screenshots of each page, for looking at the UI).
// Prints one JSON line with what it saw; exits 1 with the failing step on stderr.

import { chromium } from "playwright-core";

const url = process.env.DAEMON_URL;
const key = process.env.API_KEY;
const seeded = JSON.parse(process.env.SEEDED);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const TIMEOUT = 15000;

const seen = { steps: [], consoleErrors: [], pageErrors: [], external: [] };
let step = "start";

async function shot(page, name) {
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/${name}.png`, fullPage: true });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function run() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: FLAGS,
    headless: true });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (m) => {
      // Expected resource errors: a wrong key (401), and the add-account steps, which reach Google's stand-in on a
      // closed port on purpose (502). Anything else is a bug.
      if (m.type() === "error" && !/status of (401|502)/.test(m.text())) seen.consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
    page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("data:")) seen.external.push(r.url()); });
    const mark = (name) => { step = name; seen.steps.push(name); };

    mark("open the UI: redirected to the login page");
    await page.goto(`${url}/`);
    await page.waitForURL(/\/ui\/login$/);
    await page.getByLabel("API key").waitFor();

    mark("wrong key is refused with a clear message");
    await page.getByLabel("API key").fill("sk-ag-definitely-wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#login-status", { hasText: "Invalid API key." }).waitFor();
    check(await page.evaluate(() => localStorage.getItem("antigravityd.api_key")) === null, "wrong key was stored");

    mark("right key signs in and shows the dashboard");
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/ui\/dashboard$/);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.locator(".stat", { hasText: "Total accounts" }).waitFor();
    await page.locator(".stat", { hasText: "Requests" }).first().waitFor();
    await shot(page, "dashboard");
    seen.dashboardTotal = await page.locator(".stat", { hasText: "Total accounts" }).locator(".stat-value").textContent();

    mark("accounts page lists the seeded accounts with quota bars");
    await page.getByRole("link", { name: "Accounts" }).click();
    await page.waitForURL(/\/ui\/accounts$/);
    const alice = page.locator(`tr[data-email="${seeded.alice.email}"]`);
    const bob = page.locator(`tr[data-email="${seeded.bob.email}"]`);
    await alice.waitFor();
    await bob.waitFor();
    const meters = alice.getByRole("meter");
    await meters.first().waitFor();
    seen.aliceMeters = await meters.count();
    seen.aliceFlash = await alice.getByRole("meter", { name: /gemini-3-flash/ }).getAttribute("aria-valuenow");
    seen.aliceCountdown = await alice.locator(".quota", { hasText: "gemini-3-flash" }).locator(".countdown").textContent();
    seen.aliceTier = await alice.locator(".badge.tier").textContent();
    await shot(page, "accounts");
    seen.bobLockedBadge = await bob.locator(".badge", { hasText: "locked" }).count();

    mark("excluding an account from the proxy asks for a reason and shows it");
    await bob.getByRole("button", { name: `Exclude ${seeded.bob.email} from the proxy` }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Reason (shown on the badge)").fill("browser test reason");
    await dialog.getByRole("button", { name: "Exclude" }).click();
    await bob.locator(".badge", { hasText: "proxy off" }).waitFor();
    await bob.locator(".reason", { hasText: "browser test reason" }).waitFor();
    seen.bobStatusDot = await bob.locator(".dot").getAttribute("aria-label");

    mark("add-account dialog: token paste is parsed, OAuth and submit answer (or say they are unavailable)");
    await page.getByRole("button", { name: "Add account" }).click();
    const add = page.locator("#add-account");
    await add.getByRole("tab", { name: "Refresh tokens" }).click();
    await add.getByLabel("Paste refresh tokens").fill('here: 1//0gAAA-first-token and "1//0gBBB_second" and 1//0gAAA-first-token');
    await add.locator("#token-count", { hasText: "2 refresh tokens found." }).waitFor();
    await add.getByRole("button", { name: "Add accounts" }).click();
    await add.locator("#panel-tokens .status-line").filter({ hasText: /Added|failed|does not offer|Could not add/ })
      .waitFor();
    seen.tokenResult = await add.locator("#panel-tokens .status-line").textContent();
    await add.getByRole("tab", { name: "Google sign-in" }).click();
    await add.getByRole("button", { name: "Get sign-in link" }).click();
    await add.locator("#panel-oauth .status-line").filter({ hasText: /paste the address|does not offer|Could not/ })
      .waitFor();
    seen.oauthResult = await add.locator("#panel-oauth .status-line").textContent();
    await shot(page, "add-account");
    await add.getByRole("button", { name: "Close" }).click();
    await add.waitFor({ state: "detached" });

    mark("mappings editor adds a mapping, tests it and removes it");
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("From", { exact: true }).fill("ui-test-model");
    await page.getByLabel("To", { exact: true }).fill("gemini-3-flash");
    await page.getByRole("button", { name: "Add mapping" }).click();
    const mapped = page.locator('tr[data-key="ui-test-model"]');
    await mapped.waitFor();
    await page.getByLabel("Test a model name").fill("ui-test-model");
    await page.getByRole("button", { name: "Test mapping", exact: true }).click();
    await page.locator("#map-test-result", { hasText: "gemini-3-flash" }).waitFor();
    seen.mappingTest = await page.locator("#map-test-result").textContent();
    await mapped.getByRole("button", { name: "Remove the mapping of ui-test-model" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
    await mapped.waitFor({ state: "detached" });
    await page.locator("#config td", { hasText: "security.api_key" }).first().waitFor();
    await shot(page, "settings");
    seen.configShowsKey = (await page.locator("#config").textContent()).includes(key);

    mark("monitor page renders the request log and statistics");
    await page.getByRole("link", { name: "Monitor" }).click();
    await page.locator(".notice", { hasText: "never stored" }).waitFor();
    await page.locator("#requests tbody tr").first().waitFor();
    await page.locator("#requests td", { hasText: "claude-sonnet-4-6" }).first().waitFor();
    await shot(page, "monitor");
    seen.monitorRows = await page.locator("#requests tbody tr").count();
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByRole("button", { name: "Resume" }).waitFor();

    mark("routing page shows the lockout and clears it");
    await page.getByRole("link", { name: "Routing" }).click();
    await page.getByRole("heading", { name: "Circuit breakers" }).waitFor();
    await page.locator("#lockouts td", { hasText: seeded.bob.email }).first().waitFor();
    await shot(page, "routing");
    await page.getByRole("button", { name: `Clear the lockouts of ${seeded.bob.email}` }).click();
    await page.locator("#lockouts td", { hasText: "No account is locked out." }).waitFor();

    mark("the UI's pure helpers, run in the page itself");
    seen.helpers = await page.evaluate(async () => {
      const { parseRefreshTokens } = await import("/ui/tokens.js");
      const { countdown, resetDate } = await import("/ui/dom.js");
      const { summarize, lastDay } = await import("/ui/pages/dashboard.js");
      const now = Date.parse("2026-08-05T12:00:00Z");
      return {
        jsonStrings: parseRefreshTokens('["1//a", "1//b", "1//a", ""]'),
        jsonObjects: parseRefreshTokens('[{"email": "x@y", "refresh_token": "1//c"}, {"token": {"refresh_token": "1//d"}}]'),
        freeText: parseRefreshTokens("first 1//e, then (1//f) and 1// alone; ya29.not-this"),
        brokenJson: parseRefreshTokens("[1//g, 1//h"),
        rfc3339: countdown(resetDate("2026-08-05T14:30:00Z"), now),
        epoch: countdown(resetDate(now / 1000 + 600), now),
        past: countdown(resetDate("2026-08-05T11:00:00Z"), now).text,
        far: countdown(resetDate(now / 1000 + 3 * 86400 + 7200), now),
        summary: summarize([
          { tier: "ultra", quota: { models: { "gemini-3-flash": { percent: 80 }, "claude-sonnet-4-6": { percent: 10 },
            "gemini-3.1-flash-image": { percent: 50 } } } },
          { tier: "pro", quota: { models: { "gemini-3-flash": { percent: 40 }, "gemini-3.1-pro-high": { percent: 20 } } } },
          { tier: "mystery", quota: { models: {} } }]),
        hours: lastDay([{ start: "2026-08-05T11:00:00Z", requests: 5, errors: 1 }], now).map((r) => r.requests),
      };
    });

    mark("a reload keeps the session; signing out forgets the key");
    await page.reload();
    await page.getByRole("heading", { name: "Routing" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/ui\/login$/);
    check(await page.evaluate(() => localStorage.getItem("antigravityd.api_key")) === null, "key kept after sign-out");

    mark("done");
    check(seen.pageErrors.length === 0, `page errors: ${seen.pageErrors.join(" | ")}`);
    check(seen.consoleErrors.length === 0, `console errors: ${seen.consoleErrors.join(" | ")}`);
    check(seen.external.length === 0, `requests outside the daemon: ${seen.external.join(" ")}`);
  } finally {
    await browser.close();
  }
}

run().then(() => {
  console.log(JSON.stringify(seen));
}).catch((error) => {
  console.log(JSON.stringify(seen));
  console.error(`UI test failed at step "${step}": ${error.message}`);
  process.exit(1);
});
