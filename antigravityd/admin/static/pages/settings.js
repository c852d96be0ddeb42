// Settings: the model-mapping editor with a tester, the mapping-sync status, and the effective configuration
// (read-only, secrets masked by the daemon).

import { api } from "/ui/api.js";
import { ask, clear, fmtTime, h, setStatus, statusLine, table, toast } from "/ui/dom.js";

function mappingsSection() {
  const list = h("div", { id: "mappings" });
  const from = h("input", { type: "text", id: "map-from", placeholder: "gpt-4o or claude-haiku-*", spellcheck: "false",
    required: true, maxlength: 256 });
  const to = h("input", { type: "text", id: "map-to", placeholder: "gemini-3-flash", spellcheck: "false",
    required: true, maxlength: 256 });
  const add = h("button", { type: "submit", class: "primary", text: "Add mapping" });
  const status = statusLine("map-status");
  const probe = h("input", { type: "text", id: "map-test", placeholder: "model name a client sends", spellcheck: "false",
    required: true, maxlength: 256 });
  const testButton = h("button", { type: "submit", class: "secondary", text: "Test mapping" });
  const result = h("div", { id: "map-test-result", role: "status", "aria-live": "polite" });

  async function load() {
    try {
      const { mappings } = await api("/api/mappings");
      clear(list).append(table(["From", "To", "Changed", ""], mappings.map((m) => {
        const remove = h("button", { type: "button", class: "small danger", text: "Remove",
          "aria-label": `Remove the mapping of ${m.key}` });
        remove.addEventListener("click", async () => {
          if (!await ask({ title: `Remove the mapping of ${m.key}?`, confirm: "Remove", danger: true })) return;
          remove.disabled = true;
          try {
            await api(`/api/mappings/${encodeURIComponent(m.key)}`, { method: "DELETE" });
            toast(`Mapping of ${m.key} removed.`, "ok");
            await load();
          } catch (error) {
            toast(`Could not remove it: ${error.message}`, "error");
            remove.disabled = false;
          }
        });
        return h("tr", { dataset: { key: m.key } }, h("td", { class: "mono", text: m.key }),
          h("td", { class: "mono", text: m.target }), h("td", { text: fmtTime(new Date(m.updated_at).toISOString()) }),
          h("td", {}, remove));
      }), { empty: "No mappings: model names resolve through the built-in aliases." }));
    } catch (error) {
      setStatus(status, `Could not load mappings: ${error.message}`, "error");
    }
  }

  const form = h("form", { class: "inline-form", "aria-label": "Add a mapping" },
    h("label", { for: "map-from", text: "From" }), from, h("label", { for: "map-to", text: "To" }), to, add);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    add.disabled = true;
    try {
      const key = from.value.trim();
      await api(`/api/mappings/${encodeURIComponent(key)}`, { method: "PUT", body: { target: to.value.trim() } });
      setStatus(status, `${key} → ${to.value.trim()} saved.`, "ok");
      from.value = "";
      to.value = "";
      await load();
    } catch (error) {
      setStatus(status, error.message, "error");
    } finally {
      add.disabled = false;
    }
  });

  const tester = h("form", { class: "inline-form", "aria-label": "Mapping tester" },
    h("label", { for: "map-test", text: "Test a model name" }), probe, testButton);
  tester.addEventListener("submit", async (event) => {
    event.preventDefault();
    testButton.disabled = true;
    try {
      const r = await api("/api/mappings/test", { method: "POST", body: { model: probe.value.trim() } });
      clear(result).append(r.resolved
        ? h("p", { class: "ok" }, h("code", { text: r.model }), " → ", h("code", { text: r.upstream }),
          ` (${r.reason}; ${r.request_type}${r.image ? `; image ${r.image.aspect_ratio || ""} ${r.image.image_size || ""}`
            : ""})`)
        : h("p", { class: "error", text: r.error }));
    } catch (error) {
      clear(result).append(h("p", { class: "error", text: error.message }));
    } finally {
      testButton.disabled = false;
    }
  });
  load();
  return h("section", { "aria-labelledby": "map-h" },
    h("h2", { id: "map-h", text: "Model mappings" }),
    h("p", { class: "muted", text: "Route a model name clients send to an upstream model. `*` matches anything; the " +
      "most specific pattern wins. Changes apply at once and reach other instances through the mapping sync." }),
    form, status, list, tester, result);
}

function syncSection() {
  const box = h("div", {});
  api("/api/status").then((s) => {
    const sync = s.sync;
    if (!sync) { box.append(h("p", { class: "muted", text: "Mapping sync is not part of this build." })); return; }
    box.append(sync.enabled
      ? h("dl", { class: "facts" },
        h("dt", { text: "Remote" }), h("dd", { text: sync.remote }),
        h("dt", { text: "Every" }), h("dd", { text: `${sync.interval} s` }),
        h("dt", { text: "Last good round" }), h("dd", { text: sync.last_ok_at ? fmtTime(new Date(sync.last_ok_at * 1000)
          .toISOString()) : "never" }),
        h("dt", { text: "Rounds / failures" }), h("dd", { text: `${sync.rounds} / ${sync.failures}` }),
        h("dt", { text: "Pulled / pushed" }), h("dd", { text: `${sync.pulled} / ${sync.pushed}` }),
        sync.last_error ? [h("dt", { text: "Last error" }), h("dd", { class: "error", text: sync.last_error })] : null)
      : h("p", { class: "muted", text: "Off: set sync.remote (or ANTIGRAVITY_SYNC_REMOTE) to another instance's URL " +
        "to exchange mappings with it." }));
  }).catch((error) => box.append(h("p", { class: "error", text: error.message })));
  return h("section", { "aria-labelledby": "sync-h" }, h("h2", { id: "sync-h", text: "Mapping sync" }), box);
}

function configSection() {
  const filter = h("input", { type: "search", id: "config-filter", placeholder: "e.g. routing or timeout" });
  const box = h("div", { id: "config" });
  let settings = [];
  function draw() {
    const needle = filter.value.trim().toLowerCase();
    const shown = settings.filter((s) => !needle || s.key.includes(needle) || s.doc.toLowerCase().includes(needle));
    clear(box).append(table(["Setting", "Value", "Default", "Environment"], shown.map((s) => h("tr", {},
      h("td", { class: "mono", title: s.doc, text: s.key }),
      h("td", { class: `mono${s.is_default ? "" : " changed"}`, text: JSON.stringify(s.value) }),
      h("td", { class: "mono muted", text: JSON.stringify(s.default) }),
      h("td", { class: "mono muted", text: s.env || "" })))));
  }
  filter.addEventListener("input", draw);
  api("/api/config").then((c) => { settings = c.settings; draw(); })
    .catch((error) => box.append(h("p", { class: "error", text: error.message })));
  return h("section", { "aria-labelledby": "cfg-h" },
    h("h2", { id: "cfg-h", text: "Effective configuration" }),
    h("p", { class: "muted", text: "Read-only. Change it with `antigravityd config set KEY VALUE` (or the config " +
      "file) and restart the daemon. Secrets are masked. Hover a setting for its description." }),
    h("div", { class: "toolbar" }, h("label", { for: "config-filter", text: "Filter" }), filter), box);
}

export function render(main) {
  main.append(h("div", { class: "page-head" }, h("h1", { text: "Settings" })),
    mappingsSection(), syncSection(), configSection());
}
