// movieapp's dashboard: one page, a hash route per view, polling the server's /api/ once a
// second. Everything shown is text built with textContent (log lines may hold anything a
// caller sent); state is always said in words, never by colour alone.
"use strict";

const SVG = ["http:", "", "www.w3.org", "2000", "svg"].join("/");
const REFRESH_MS = 1000;
const TOKEN_KEY = "movieapp-dashboard-token";

let timer = null;
let route = "";
let drawn = "";

// ---- small helpers -------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) if (c) el.append(c);
  return el;
}

function rate(v) {
  if (v === null || v === undefined) return "–";
  return v >= 100 ? v.toFixed(0) + "/s" : v.toFixed(1) + "/s";
}
function pct(v) { return v === null || v === undefined ? "–" : v.toFixed(1) + "%"; }
function ms(v) { return v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) + " ms" : v.toFixed(1) + " ms"; }
function us(v) { return ms(v / 1000); }
function time(startUs) { return new Date(startUs / 1000).toLocaleTimeString(); }

const STATE_WORDS = {
  serving: "✓ serving",
  not_serving: "⚠ not serving",
  refused: "⊘ refused",
  unreachable: "✕ unreachable",
};
function stateCell(i) {
  return h("td", { class: "state-" + i.state, "data-state": i.state },
    STATE_WORDS[i.state] || i.state, i.reason ? h("div", { class: "note", text: i.reason }) : null);
}

// The page's content, without the parts that have nothing to say.
function put(...children) {
  document.getElementById("content").replaceChildren(...children.filter((c) => c));
}

function setStatus(text) { document.getElementById("status").textContent = text; }

// ---- the API -------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const headers = { accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = "Bearer " + token;
  const response = await fetch(path, { headers, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401 || response.status === 403) {
    throw new Refused(response.status, (body && body.error) || "refused");
  }
  if (!response.ok) throw new Error((body && body.error) || "HTTP " + response.status);
  return body;
}

function showLogin(message) {
  const login = document.getElementById("login");
  login.hidden = false;
  document.getElementById("main").replaceChildren();
  document.getElementById("login-error").textContent = message || "";
  setStatus("signed out");
  document.getElementById("token").focus();
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  document.getElementById("login").hidden = true;
  show(true);
});

// ---- routing and polling -------------------------------------------------------------

const PAGES = {
  overview: { title: "Overview", load: () => api("/api/state"), draw: drawOverview },
  instances: { title: "Instances and endpoints", load: () => api("/api/state?history=1"), draw: drawInstances },
  traces: { title: "Traces", load: loadTraces, draw: drawTraces },
  trace: { title: "Trace", load: (id) => api("/api/trace/" + encodeURIComponent(id)), draw: drawTrace, once: true },
  logs: { title: "Logs", load: loadLogs, draw: drawLogs },
  feed: { title: "Feed and events", load: () => api("/api/state"), draw: drawFeed },
  locks: { title: "Locks", load: () => api("/api/state"), draw: drawLocks },
};

function parseRoute() {
  const parts = (location.hash || "#/overview").slice(2).split("/");
  const name = PAGES[parts[0]] ? parts[0] : "overview";
  return { name, arg: parts.slice(1).join("/") };
}

async function show(fresh) {
  const { name, arg } = parseRoute();
  const page = PAGES[name];
  const main = document.getElementById("main");
  const key = name + "/" + arg;
  const isNew = fresh || key !== route;
  if (isNew) {
    route = key;
    document.title = page.title + " · movieapp";
    for (const a of document.querySelectorAll("nav a")) {
      const current = a.getAttribute("href") === "#/" + name ||
        (name === "trace" && a.getAttribute("href") === "#/traces");
      if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    main.replaceChildren(h("h2", { text: page.title }), h("div", { id: "controls" }), h("div", { id: "content" }));
    main.dataset.page = name;
  }
  clearTimeout(timer);
  try {
    const data = await page.load(arg);
    if (key !== route) return;
    document.getElementById("login").hidden = true;
    // Unchanged data is not drawn again: focus and selection stay where they are.
    const seen = JSON.stringify(data);
    if (isNew || seen !== drawn) page.draw(data, arg);
    drawn = seen;
    setStatus("updated " + new Date().toLocaleTimeString() + (page.once ? "" : " · refreshing every second"));
  } catch (e) {
    if (e instanceof Refused) {
      if (e.status === 403) sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e.status === 403 ? "Refused: " + e.message : sessionStorage.getItem(TOKEN_KEY) ? e.message : "");
      return;
    }
    if (document.getElementById("content")) put(h("p", { class: "error", role: "alert", text: "Could not load: " + e.message }));
    setStatus("error");
  }
  if (!page.once) timer = setTimeout(() => show(false), REFRESH_MS);
}

window.addEventListener("hashchange", () => show(true));

// ---- overview ------------------------------------------------------------------------

const NODES = {
  clients: { x: 20, y: 150, label: "clients" },
  movie: { x: 270, y: 150, label: "movie" },
  metadata: { x: 560, y: 30, label: "metadata" },
  rating: { x: 560, y: 270, label: "rating" },
  feed: { x: 800, y: 270, label: "feed" },
  auth: { x: 800, y: 30, label: "auth" },
};
const W = 170, H = 78;

function services(state) {
  const by = {};
  for (const i of state.instances) {
    const s = by[i.service] || (by[i.service] = { serving: 0, down: 0, calls: 0, errors: 0, total: 0 });
    if (i.state === "serving") s.serving++; else s.down++;
    s.total++;
    s.calls += i.callsPerSec || 0;
    s.errors += (i.callsPerSec || 0) * (i.errorPercent || 0) / 100;
  }
  return by;
}

function drawOverview(state) {
  const by = services(state);
  const svg = s("svg", { class: "diagram", viewBox: "0 0 980 360", role: "img", "aria-labelledby": "diagram-title" },
    s("title", { id: "diagram-title", text: "Services and the calls between them" }),
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#5b6475" }))));
  const edges = [];
  for (const name of ["movie", "metadata", "rating", "auth"]) {
    const f = by[name];
    if (f) edges.push({ from: "clients", to: name, calls: f.calls, err: f.calls ? 100 * f.errors / f.calls : null, external: true });
  }
  for (const e of state.edges || []) {
    if (e.from === "services") edges.push({ from: "metadata", to: "auth", calls: e.callsPerSec, err: e.errorPercent, name: "services → auth (token keys)" });
    else edges.push({ from: e.from, to: e.to, calls: e.callsPerSec, err: e.errorPercent });
  }
  for (const f of state.feeds || []) {
    edges.push({ from: "feed", to: "rating", calls: f.appliedPerSec, err: null, what: f.topic });
  }
  // The calls clients make directly: what each service answers less what others ask of it.
  for (const e of edges) {
    if (!e.external) continue;
    const inner = edges.filter((o) => !o.external && o.to === e.to && o.from !== "feed").reduce((a, o) => a + (o.calls || 0), 0);
    e.calls = Math.max(0, e.calls - inner);
  }
  const rows = [];
  for (const e of edges) {
    const a = NODES[e.from], b = NODES[e.to];
    if (!a || !b) continue;
    rows.push(h("tr", { "data-edge": e.from + "->" + e.to }, h("td", { text: e.name || e.from + " → " + e.to + (e.what ? " (" + e.what + ")" : "") }),
      h("td", { class: "num", text: rate(e.calls) }), h("td", { class: "num", text: pct(e.err) })));
    // Drawn: the calls that enter at the movie service, and those between services (the
    // table has the rest: clients calling the others directly).
    if (e.external && e.to !== "movie") continue;
    const [x1, y1] = [a.x + W, a.y + H / 2];
    let [x2, y2] = [b.x, b.y + H / 2];
    if (e.from === "feed") [x2, y2] = [b.x + W, b.y + H / 2];
    const [sx, sy] = e.from === "feed" ? [a.x, a.y + H / 2] : [x1, y1];
    const failing = (e.err || 0) > 0;
    const label = rate(e.calls) + (e.err !== null && e.err !== undefined ? " · " + pct(e.err) + " errors" : "");
    svg.append(s("g", { "data-edge": e.from + "->" + e.to },
      s("path", { class: "edge" + (failing ? " failing" : ""), d: `M ${sx} ${sy} L ${x2} ${y2}` }),
      s("text", { class: "label", x: sx + (x2 - sx) * 0.45 - 30, y: sy + (y2 - sy) * 0.45 - 8, text: label + (failing ? " ⚠" : "") })));
  }
  for (const [name, n] of Object.entries(NODES)) {
    const f = by[name];
    const down = f && f.down > 0;
    let line1 = "", line2 = "";
    if (name === "clients") { line1 = "CLI, HTTP, gRPC"; }
    else if (name === "feed") {
      const lag = (state.feeds || []).map((t) => t.lagEvents || 0).reduce((a, b) => a + b, 0);
      line1 = (state.feeds || []).length ? "lag " + lag + " events" : "no topic read";
    } else if (!f) { line1 = "not registered"; }
    else {
      line1 = f.serving + " serving" + (f.down ? ", " + f.down + " down ✕" : "");
      line2 = rate(f.calls) + " · " + pct(f.calls ? 100 * f.errors / f.calls : null) + " err";
    }
    svg.append(s("g", { class: "node" + (down ? " down" : ""), "data-service": name, transform: `translate(${n.x},${n.y})` },
      s("rect", { width: W, height: H, rx: 8 }),
      s("text", { class: "title", x: 12, y: 22, text: n.label }),
      s("text", { x: 12, y: 44, text: line1 }),
      s("text", { x: 12, y: 64, text: line2 })));
  }
  const summary = h("table", { "aria-label": "Services" },
    h("thead", {}, h("tr", {}, ["Service", "Instances", "Calls/s", "Errors"].map((t, i) => h("th", { class: i > 1 ? "num" : null, text: t })))),
    h("tbody", {}, Object.entries(by).sort().map(([name, f]) => h("tr", { "data-service": name },
      h("td", { text: name }),
      h("td", { text: f.serving + " serving" + (f.down ? ", " + f.down + " not (✕)" : "") }),
      h("td", { class: "num", text: rate(f.calls) }),
      h("td", { class: "num", text: pct(f.calls ? 100 * f.errors / f.calls : null) })))));
  const calls = h("table", { "aria-label": "Calls between services" },
    h("thead", {}, h("tr", {}, h("th", { text: "Calls" }), h("th", { class: "num", text: "Per second" }), h("th", { class: "num", text: "Errors" }))),
    h("tbody", {}, rows));
  put(svg,
    h("p", { class: "note", text: "Registry " + state.registry + " · figures over " + state.intervalSecs.toFixed(1) + " s" }),
    summary, calls);
}

// ---- instances -----------------------------------------------------------------------

function spark(points, times) {
  const values = (points || []).map((v) => (v === null ? 0 : v));
  const max = Math.max(1, ...values);
  const span = 300;
  const coords = values.map((v, i) => {
    const t = times[i] === undefined ? 0 : times[i];
    return ((span + t) / span * 120).toFixed(1) + "," + (22 - v / max * 20).toFixed(1);
  });
  const last = values.length ? values[values.length - 1] : 0;
  return s("svg", { class: "spark", viewBox: "0 0 120 24", role: "img", "aria-label": "calls/s over 5 minutes, now " + rate(last) + ", peak " + rate(max === 1 && !values.some((v) => v >= 1) ? Math.max(0, ...values) : max) },
    s("polyline", { points: coords.join(" ") }));
}

function drawInstances(state) {
  const history = state.history || { times: [], series: {} };
  const head = h("thead", {}, h("tr", {}, ["Service / endpoint", "Instance", "Address", "State", "Calls/s", "Errors", "p50", "p99", "Last 5 minutes"]
    .map((t, i) => h("th", { class: i >= 4 && i <= 7 ? "num" : null, text: t }))));
  const body = h("tbody");
  for (const i of state.instances) {
    const series = history.series[i.instanceId] || {};
    body.append(h("tr", { "data-instance": i.instanceId, "data-service": i.service },
      h("th", { scope: "row", text: i.service }), h("td", { class: "mono", text: i.instanceId }), h("td", { class: "mono", text: i.address }),
      stateCell(i), h("td", { class: "num", text: rate(i.callsPerSec) }), h("td", { class: "num", text: pct(i.errorPercent) }),
      h("td", { class: "num", text: ms(i.p50Ms) }), h("td", { class: "num", text: ms(i.p99Ms) }), h("td", {}, spark(series[""], history.times))));
    for (const e of i.endpoints) {
      body.append(h("tr", { class: "endpoint", "data-endpoint": e.endpoint },
        h("td", { text: e.endpoint }), h("td"), h("td"), h("td"),
        h("td", { class: "num", text: rate(e.callsPerSec) }), h("td", { class: "num", text: pct(e.errorPercent) }),
        h("td", { class: "num", text: ms(e.p50Ms) }), h("td", { class: "num", text: ms(e.p99Ms) }), h("td", {}, spark(series[e.endpoint], history.times))));
    }
  }
  put(
    state.instances.length ? h("table", { "aria-label": "Instances" }, head, body) : h("p", { text: "No instance is registered." }),
    h("p", { class: "note", text: "The same figures as movieapp top, over " + state.intervalSecs.toFixed(1) + " s; sparklines start when the dashboard is opened." }));
}

// ---- traces --------------------------------------------------------------------------

function filterForm(id, fields, onchange) {
  let form = document.getElementById(id);
  if (form) return form;
  form = h("form", { id, class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); onchange(); } });
  for (const f of fields) {
    let input;
    if (f.options) input = h("select", { name: f.name, id: id + "-" + f.name }, f.options.map(([v, t]) => h("option", { value: v, text: t })));
    else input = h("input", { name: f.name, id: id + "-" + f.name, type: f.type || "text", placeholder: f.placeholder || "", min: f.min, step: f.step });
    input.addEventListener("change", onchange);
    form.append(h("label", { for: id + "-" + f.name }, f.label, input));
  }
  form.append(h("button", { type: "submit", text: "Apply" }));
  document.getElementById("controls").replaceChildren(form);
  return form;
}

function query(form) {
  const params = new URLSearchParams();
  for (const el of form.elements) if (el.name && el.value) params.set(el.name, el.value);
  return params.toString();
}

const SERVICE_OPTIONS = [["", "any"], ["movie", "movie"], ["metadata", "metadata"], ["rating", "rating"], ["auth", "auth"]];

function loadTraces() {
  const form = filterForm("trace-filters", [
    { name: "service", label: "Service", options: SERVICE_OPTIONS },
    { name: "name", label: "Endpoint", placeholder: "MovieService/GetMovieDetails" },
    { name: "status", label: "Status", options: [["", "any"], ["ok", "ok"], ["error", "failed"]] },
    { name: "minMs", label: "At least (ms)", type: "number", min: 0, step: "any" },
  ], () => show(false));
  return api("/api/traces?" + query(form));
}

function unreachableNote(list) {
  if (!list || !list.length) return null;
  return h("p", { class: "error", role: "alert", text: "Not answering: " + list.map((u) => (u.address || "?") + " (" + u.error + ")").join("; ") });
}

function drawTraces(data) {
  const rows = data.traces.map((t) => h("tr", { "data-trace": t.traceId, "data-name": t.name },
    h("td", { text: time(t.startUs) }),
    h("td", {}, h("a", { href: "#/trace/" + t.traceId, class: "mono", text: t.traceId.slice(0, 16) + "…", "aria-label": "trace " + t.traceId + ", " + t.name })),
    h("td", { text: t.name }), h("td", { text: t.service }), h("td", { class: "num", text: us(t.durationUs) }),
    h("td", { class: t.status === "ok" ? "" : "status-error", text: t.status === "ok" ? "ok" : "✕ " + t.status })));
  put(
    unreachableNote(data.unreachable),
    rows.length ? h("table", { "aria-label": "Recent traces" },
      h("thead", {}, h("tr", {}, ["Started", "Trace", "Entry", "Service", "Duration", "Status"].map((t, i) => h("th", { class: i === 4 ? "num" : null, text: t })))),
      h("tbody", {}, rows)) : h("p", { text: "No trace matches yet." }));
}

function drawTrace(data, id) {
  const spans = data.spans;
  if (!spans.length) {
    put(h("p", { text: "No span of trace " + id + " is kept (or its processes do not answer)." }), unreachableNote(data.unreachable));
    return;
  }
  const ids = new Set(spans.map((x) => x.spanId));
  const depth = {};
  const byId = Object.fromEntries(spans.map((x) => [x.spanId, x]));
  const depthOf = (x) => {
    if (depth[x.spanId] !== undefined) return depth[x.spanId];
    depth[x.spanId] = 0;
    const parent = x.parentSpanId && ids.has(x.parentSpanId) ? byId[x.parentSpanId] : null;
    return (depth[x.spanId] = parent ? depthOf(parent) + 1 : 0);
  };
  // Depth first: each span under its caller.
  const children = {};
  const roots = [];
  for (const x of spans) {
    if (x.parentSpanId && ids.has(x.parentSpanId)) (children[x.parentSpanId] = children[x.parentSpanId] || []).push(x);
    else roots.push(x);
  }
  const ordered = [];
  const walk = (x) => { ordered.push(x); for (const c of children[x.spanId] || []) walk(c); };
  roots.forEach(walk);
  const processes = new Set(spans.map((x) => x.process)).size;
  const t0 = Math.min(...spans.map((x) => x.startUs));
  const t1 = Math.max(...spans.map((x) => x.startUs + x.durationUs));
  const total = Math.max(1, t1 - t0);
  const fall = h("div", { class: "waterfall", role: "list", "aria-label": "Spans, each under its caller" });
  for (const x of ordered) {
    const d = depthOf(x);
    const bar = h("div", { class: "bar" + (x.status === "ok" ? "" : " failed") });
    bar.style.left = (100 * (x.startUs - t0) / total).toFixed(2) + "%";
    bar.style.width = (100 * x.durationUs / total).toFixed(2) + "%";
    const where = processes > 1 ? " · " + x.process : "";
    const name = h("span", { class: "span-name", text: x.service + " · " + x.name + where + (x.status === "ok" ? "" : " ✕ " + x.status) });
    name.style.paddingLeft = (d * 1.2) + "rem";
    const details = h("div", { class: "span-details", hidden: true, id: "span-" + x.spanId },
      h("dl", {}, [["service", x.service], ["endpoint", x.name], ["status", x.status], ["kind", x.kind], ["process", x.process],
        ["span", x.spanId], ["caller span", x.parentSpanId || "none (entry)"], ["started", new Date(x.startUs / 1000).toISOString()],
        ["duration", us(x.durationUs)]].map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])));
    const row = h("button", { type: "button", class: "span-row", "aria-expanded": "false", "aria-controls": "span-" + x.spanId,
      "data-span": x.spanId, "data-parent": x.parentSpanId || "", "data-name": x.name, "data-service": x.service, "data-depth": d,
      "data-start-us": x.startUs, "data-duration-us": x.durationUs,
      onclick: () => { details.hidden = !details.hidden; row.setAttribute("aria-expanded", String(!details.hidden)); } },
      name, h("span", { class: "track" }, bar), h("span", { class: "num", text: us(x.durationUs) }));
    fall.append(h("div", { role: "listitem" }, row, details));
  }
  const logs = data.logs.length ? logTable(data.logs, false) : h("p", { class: "note", text: "No log line carries this trace id (at the log level set, calls log only when something goes wrong)." });
  put(
    h("p", {}, "Trace ", h("code", { text: data.traceId }), " · " + spans.length + " spans in " + processes + (processes > 1 ? " processes" : " process") + " · " + us(total) + " · ", h("a", { href: "#/traces", text: "back to the list" })),
    unreachableNote(data.unreachable), fall, h("h2", { text: "Log lines of this trace" }), logs);
}

// ---- logs ----------------------------------------------------------------------------

function loadLogs() {
  const form = filterForm("log-filters", [
    { name: "level", label: "Level (and worse)", options: [["", "any"], ["error", "error"], ["warn", "warn"], ["info", "info"], ["debug", "debug"]] },
    { name: "service", label: "Service", options: SERVICE_OPTIONS.concat([["movieapp", "the process"]]) },
    { name: "trace", label: "Trace id", placeholder: "32 hex digits" },
  ], () => show(false));
  return api("/api/logs?" + query(form));
}

const KNOWN = new Set(["timestamp", "level", "target", "message", "service", "trace_id", "process", "seq", "span", "spans", "component"]);

function logTable(lines, withTrace) {
  const rows = lines.slice().reverse().map((l) => {
    const extra = Object.entries(l).filter(([k]) => !KNOWN.has(k)).map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join(" ");
    return h("tr", { "data-level": String(l.level || "").toLowerCase() },
      h("td", { class: "mono", text: String(l.timestamp || "").replace("T", " ").slice(0, 23) }),
      h("td", { class: /ERROR|WARN/.test(l.level) ? "status-error" : "", text: l.level }),
      h("td", { text: l.service || "" }),
      h("td", { class: "message" }, h("span", { text: l.message || "" }), extra ? h("div", { class: "note mono", text: extra }) : null),
      withTrace ? h("td", {}, l.trace_id ? h("a", { href: "#/trace/" + l.trace_id, class: "mono", text: l.trace_id.slice(0, 8) + "…", "aria-label": "trace " + l.trace_id }) : "") : null,
      h("td", { class: "mono", text: l.process || "" }));
  });
  return h("table", { "aria-label": "Log lines, newest first" },
    h("thead", {}, h("tr", {}, ["Time", "Level", "Service", "Message", withTrace ? "Trace" : null, "Process"].filter(Boolean).map((t) => h("th", { text: t })))),
    h("tbody", {}, rows));
}

function drawLogs(data) {
  put(unreachableNote(data.unreachable),
    data.lines.length ? logTable(data.lines, true) : h("p", { text: "No line matches (each process keeps its last 5 000)." }));
}

// ---- feed, events and locks ----------------------------------------------------------

function drawFeed(state) {
  const feeds = state.feeds || [];
  const outbox = state.outbox || [];
  put(
    h("h2", { text: "Topics read by the rating service" }),
    feeds.length ? h("table", { "aria-label": "Topics" },
      h("thead", {}, h("tr", {}, ["Topic", "Lag (events)", "Dead letters", "Applied"].map((t, i) => h("th", { class: i ? "num" : null, text: t })))),
      h("tbody", {}, feeds.map((f) => h("tr", { "data-topic": f.topic }, h("td", { text: f.topic }),
        h("td", { class: "num", text: f.lagEvents === null || f.lagEvents === undefined ? "–" : String(f.lagEvents) }),
        h("td", { class: "num" + (f.deadLettered ? " status-error" : ""), text: f.deadLettered === null || f.deadLettered === undefined ? "–" : String(f.deadLettered) + (f.deadLettered ? " ⚠" : "") }),
        h("td", { class: "num", text: rate(f.appliedPerSec) })))))
      : h("p", { text: "No rating instance reports reading a topic." }),
    h("h2", { text: "Change events waiting in the outbox" }),
    outbox.length ? h("table", { "aria-label": "Outbox" },
      h("thead", {}, h("tr", {}, h("th", { text: "Process" }), h("th", { class: "num", text: "Pending" }))),
      h("tbody", {}, outbox.map((o) => h("tr", {}, h("td", { class: "mono", text: o.process }), h("td", { class: "num", text: String(o.pending) })))))
      : h("p", { text: "No process reports an outbox (change events are off, or nothing was written yet)." }));
}

function drawLocks(state) {
  if (state.locksError) { put(h("p", { class: "error", role: "alert", text: "The lock store cannot be read: " + state.locksError })); return; }
  const locks = state.locks || [];
  const now = Date.now();
  const left = (at) => (at ? Math.max(0, (at - now) / 1000).toFixed(1) + " s" : "–");
  put(locks.length ? h("table", { "aria-label": "Locks" },
    h("thead", {}, h("tr", {}, ["Key", "Holder", "Fencing token", "Lease left", "Blocked after expiry for"].map((t) => h("th", { text: t })))),
    h("tbody", {}, locks.map((l) => h("tr", { "data-key": l.key }, h("td", { class: "mono", text: l.key }),
      h("td", { text: l.holder || "free" }), h("td", { class: "num", text: String(l.token) }),
      h("td", { text: left(l.expiresAtMs) }), h("td", { text: left(l.delayedUntilMs) })))))
    : h("p", { text: "No lock has been taken." }));
}

show(true);
