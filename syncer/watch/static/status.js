// syncer watch status page: renders /api/status (format_version 1) and keeps it live with a long
// poll (/api/status?since=VERSION answers as soon as something changed).  Every value shown goes
// in as text (textContent / createTextNode), never as HTML: names and errors come from users and
// servers.  No framework, no external asset.
"use strict";

const STATE_LABELS = {
  in_sync: "in sync", planned: "planned change", applying: "applying", blocked: "blocked",
  failing: "failing", drifted: "drifted", standby: "standby", pending: "pending",
};
let doc = null;        // the last /api/status document
let skew = 0;          // server clock minus ours, ms (ages are computed on the server's clock)

// -- building blocks ----------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function now() { return Date.now() + skew; }

function duration(seconds) {
  const s = Math.abs(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

function relative(iso) {
  const seconds = (now() - Date.parse(iso)) / 1000;
  if (Math.abs(seconds) < 1) return "now";
  return seconds >= 0 ? `${duration(seconds)} ago` : `in ${duration(seconds)}`;
}

// a time shown relative to now, refreshed every second; the exact time in its tooltip
function when(iso) {
  if (!iso) return h("span", { class: "muted", text: "–" });
  return h("time", { datetime: iso, title: iso, "data-relative": "" }, relative(iso));
}

function counts(c) {
  return h("span", { class: "mono" }, h("span", { class: "ins", text: `+${c.inserts}` }), " ",
    h("span", { class: "upd", text: `~${c.updates}` }), " ",
    h("span", { class: "del", text: `-${c.deletes}` }));
}

function stateBadge(state) {
  return h("span", { class: `state state-${state}`, "data-state": state }, STATE_LABELS[state] || state);
}

function datasetId(d) { return `${d.target}/${d.dataset}`; }

function detailLink(d) {
  return h("a", { href: `#dataset=${encodeURIComponent(datasetId(d))}`, class: "dataset-link" }, d.dataset);
}

function value(v) {
  if (v === null || v === undefined) return "null";
  return typeof v === "string" ? v : JSON.stringify(v);
}

// -- the overview -------------------------------------------------------------------------------
function note(d) {
  if (d.state === "failing") {
    const first = (d.error || "").split("\n")[0];
    return [h("span", { class: "del", text: first }),
      d.next_retry ? h("span", { class: "muted" }, " · retry ", when(d.next_retry))
        : h("span", { class: "muted", text: " · waits for a change" })];
  }
  if (d.state === "blocked") return h("span", { class: "upd", text: d.blocked });
  if (d.state === "drifted") return h("span", { class: "upd", text: `${d.drift_rows} row(s) drifted` });
  if ((d.state === "planned" || d.state === "applying") && d.plan) return counts(d.plan);
  return null;
}

function source(d) {
  const files = (d.files || []).join(", ");
  const stamps = d.fingerprint || [];
  const newest = stamps.map((s) => s.modified).filter(Boolean).sort().pop();
  return [h("span", { class: "mono", text: files || "–" }),
    newest ? h("div", { class: "muted" }, "modified ", when(newest)) : null];
}

function lastApply(d) {
  const a = d.last_apply;
  if (!a) return d.applied_at ? h("span", { class: "muted" }, "before this watcher · ", when(d.applied_at)) : "–";
  return [when(a.at), " ", h("span", { class: "muted", text: `(${duration(a.seconds)})` }), " ", counts(a),
    a.git_commit ? h("span", { class: "mono muted", title: a.git_commit, text: ` ${a.git_commit.slice(0, 10)}` }) : null];
}

function datasetRow(d) {
  return h("tr", { "data-dataset": datasetId(d), "data-state": d.state },
    h("td", { "data-label": "Dataset" }, detailLink(d)),
    h("td", { "data-label": "State" }, stateBadge(d.state)),
    h("td", { "data-label": "Rows", class: "num", text: d.rows === null || d.rows === undefined ? "–" : d.rows.toLocaleString() }),
    h("td", { "data-label": "Source" }, source(d)),
    h("td", { "data-label": "Last apply" }, lastApply(d)),
    h("td", { "data-label": "Note", class: "note" }, note(d)));
}

function renderDatasets() {
  const table = document.getElementById("datasets");
  for (const body of table.querySelectorAll("tbody")) body.remove();
  const byTarget = new Map();
  for (const d of doc.datasets) {
    if (!byTarget.has(d.target)) byTarget.set(d.target, []);
    byTarget.get(d.target).push(d);
  }
  for (const [target, items] of byTarget) {
    table.append(h("tbody", { "data-target": target },
      h("tr", { class: "target" }, h("th", { colspan: 6 }, "target ", h("span", { class: "mono", text: target }))),
      items.map(datasetRow)));
  }
  document.getElementById("empty").hidden = doc.datasets.length > 0;
}

function renderBanner() {
  const banner = document.getElementById("banner");
  const w = doc.watcher;
  banner.replaceChildren();
  if (!w.manifests_valid) {
    banner.append(h("strong", { text: "Invalid manifests: " }),
      "the watcher keeps running on the last valid ones until they are fixed.",
      h("pre", { id: "manifest-error", text: w.manifest_error || "" }));
  } else if (w.state !== "running") {
    banner.append(h("strong", { text: `The watcher is ${w.state}.` }));
  }
  banner.hidden = banner.childElementCount === 0;
}

function renderRuns() {
  const body = document.querySelector("#runs tbody");
  body.replaceChildren(...doc.runs.map((r) => {
    const total = { inserts: 0, updates: 0, deletes: 0 };
    for (const d of r.datasets) for (const k of Object.keys(total)) total[k] += d[k] || 0;
    const took = r.finished_at ? (Date.parse(r.finished_at) - Date.parse(r.started_at)) / 1000 : null;
    const failed = r.datasets.filter((d) => d.error).map((d) => `${d.target}/${d.dataset}`);
    return h("tr", { "data-run": r.run_id },
      h("td", { "data-label": "Started" }, when(r.started_at)),
      h("td", { "data-label": "Outcome" }, h("span", { class: `outcome-${r.outcome}`, text: r.outcome }),
        failed.length ? h("span", { class: "muted", text: ` (${failed.join(", ")})` }) : null),
      h("td", { "data-label": "Took", text: took === null ? "–" : duration(took) }),
      h("td", { "data-label": "Changes" }, counts(total), h("span", { class: "muted", text: ` · ${r.command}` })),
      h("td", { "data-label": "Commit", class: "mono", title: r.git_commit || "", text: (r.git_commit || "–").slice(0, 10) }));
  }));
  document.getElementById("no-runs").hidden = doc.runs.length > 0;
}

function renderWatcher() {
  const w = doc.watcher;
  const facts = [["State", w.state], ["Up for", duration(w.uptime_seconds)], ["Started", when(w.started)]];
  facts.push(["State backend", h("span", { class: "mono", text: w.state_store || "–" })],
    ["Manifests", h("span", { class: "mono", text: w.manifests || "–" })],
    ["Full check every", w.interval ? duration(w.interval) : "–"],
    ["Next full check", when(w.next_full_check)], ["Last reconcile", when(w.last_reconcile)],
    ["Reconciles", String(w.reconciles)], ["Self-heal", w.self_heal ? "on" : "off"],
    ["Notifies", (w.notify || []).length ? h("span", { class: "mono", text: w.notify.join(", ") }) : "–"]);
  document.getElementById("watcher-facts").replaceChildren(
    ...facts.flatMap(([name, v]) => [h("dt", { text: name }), h("dd", {}, v)]));
}

function renderSummary() {
  const parts = Object.entries(doc.counts).filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${STATE_LABELS[state] || state}`);
  document.getElementById("summary").textContent = `${doc.datasets.length} dataset(s): ${parts.join(", ") || "none"}`;
  const bad = doc.counts.failing + doc.counts.blocked;
  document.title = `${bad ? `(${bad}) ` : ""}syncer watch`;
}

// -- the detail of one dataset ------------------------------------------------------------------
function samplesTable(samples) {
  if (!samples || !samples.length) return h("p", { class: "muted", text: "No sample rows." });
  return h("table", { class: "samples" },
    h("thead", {}, h("tr", {}, h("th", { text: "" }), h("th", { text: "Key" }), h("th", { text: "Fields" }))),
    h("tbody", {}, samples.map((s) => h("tr", { "data-op": s.op },
      h("td", { class: { "+": "ins", "~": "upd", "-": "del" }[s.op] || "", text: s.op }),
      h("td", { class: "mono", text: s.key }),
      h("td", { class: "mono" }, s.fields
        ? Object.entries(s.fields).map(([col, [old, nu]]) => h("div", { class: "field" },
          `${col}: `, h("span", { class: "old", text: value(old) }), " → ", h("span", { class: "new", text: value(nu) })))
        : Object.entries(s.values || {}).map(([col, v]) => h("div", { class: "field", text: `${col}: ${value(v)}` })))))));
}

function renderDetail(id) {
  const d = doc.datasets.find((x) => datasetId(x) === id);
  const section = document.getElementById("detail");
  const parts = [h("a", { href: "#", class: "back", text: "← all datasets" })];
  if (!d) {
    parts.push(h("h2", {}, "Not declared: ", h("span", { class: "mono", text: id })));
  } else {
    parts.push(h("h2", { "data-dataset": id }, h("span", { class: "mono", text: id }), " ", stateBadge(d.state)));
    if (d.error) {
      parts.push(h("h3", { text: `Last error (${d.failures} failure(s) in a row)` }), h("pre", { class: "error", text: d.error }),
        h("p", { class: "muted" }, d.next_retry ? ["next retry ", when(d.next_retry)] : "waits for its source or manifest to change"));
    }
    if (d.blocked) parts.push(h("h3", { text: "Blocked by a safety guard" }), h("pre", { class: "blocked", text: d.blocked }));
    if (d.plan) {
      const pending = ["planned", "applying", "blocked", "failing"].includes(d.state);
      parts.push(h("h3", {}, pending ? "Pending plan " : "Last plan with changes ", h("span", { class: "muted" }, "(", when(d.plan.at), ") ")),
        h("p", {}, counts(d.plan), ` · mode ${d.plan.mode}`),
        ...(d.plan.warnings || []).map((w) => h("p", { class: "upd", text: w })), samplesTable(d.plan.samples));
    }
    if (d.drift) {
      parts.push(h("h3", {}, d.drift_rows ? "Drift found " : "Last drift found (repaired or gone) ", h("span", { class: "muted" }, "(", when(d.drift.at), ")")),
        h("p", { class: "mono", text: `~${d.drift.changed} changed +${d.drift.added} added -${d.drift.removed} removed outside syncer` }),
        samplesTable(d.drift.samples));
    }
    parts.push(h("h3", { text: "Source" }),
      h("table", { class: "files" }, h("tbody", {}, (d.fingerprint || []).map((s) => h("tr", {},
        h("td", { class: "mono", "data-label": "File", text: s.path }),
        h("td", { "data-label": "Size", class: "num", text: `${s.size.toLocaleString()} B` }),
        h("td", { "data-label": "Modified" }, when(s.modified)),
        h("td", { "data-label": "Digest", class: "mono muted", text: s.digest }))))),
      (d.fingerprint || []).length ? null : h("p", { class: "muted", text: (d.files || []).join(", ") || "–" }));
    const c = d.counters;
    parts.push(h("h3", { text: "Since this watcher started" }),
      h("p", {}, `${c.applies} apply(ies): `, counts({ inserts: c.inserted, updates: c.updated, deletes: c.deleted }), `, ${c.errors} error(s)`));
  }
  section.replaceChildren(...parts.filter((part) => part !== null && part !== undefined));
}

// -- routing, rendering, live updates -----------------------------------------------------------
function route() {
  const match = location.hash.match(/^#dataset=(.+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function render() {
  if (!doc) return;
  const id = route();
  document.getElementById("overview").hidden = id !== null;
  document.getElementById("history").hidden = id !== null;
  document.getElementById("watcher").hidden = id !== null;
  document.getElementById("detail").hidden = id === null;
  renderSummary();
  renderBanner();
  if (id === null) { renderDatasets(); renderRuns(); renderWatcher(); } else renderDetail(id);
  document.body.dataset.version = String(doc.version);
}

function setConnected(ok, why) {
  const pill = document.getElementById("connection");
  pill.dataset.connected = String(ok);
  pill.textContent = ok ? "live" : `disconnected${why ? `: ${why}` : ""}; retrying`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll() {
  let since = null;
  for (;;) {
    try {
      const response = await fetch(since === null ? "/api/status" : `/api/status?since=${since}`, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const next = await response.json();
      skew = Date.parse(next.now) - Date.now();
      doc = next;
      since = next.version;
      setConnected(true);
      render();
      await sleep(100); // a busy watcher changes often: at most ten renders a second
    } catch (error) {
      setConnected(false, error.message);
      since = null;
      await sleep(2000);
    }
  }
}

setInterval(() => {
  for (const t of document.querySelectorAll("time[data-relative]")) t.textContent = relative(t.getAttribute("datetime"));
}, 1000);
window.addEventListener("hashchange", render);
poll();
