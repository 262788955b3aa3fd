// Fleet view: the sensors that need attention first (alarm, then pending), a tile per
// sensor grouped by site and kind, then the gateways; kept current by the live stream (no
// polling). Statuses: alarm, offline, pending, warning, stale, normal.
import { api, debounce, epoch, fmtAgo, fmtDuration, fmtValue, h, live, now, sensorHref, showError, since } from "./common.js";

const STALE_S = 600; // no reading for 10 min (and no offline rule said otherwise): stale
const SPARK_WINDOW = 6 * 3600;
const SPARK_STEP = 600;

const sensors = new Map(); // id -> twin from /api/v1/sensors (times as epoch seconds)
const sparks = new Map(); // id -> [[t, v], ...]
const groups = document.getElementById("groups");
const query = document.getElementById("q");
const statusFilter = document.getElementById("status-filter");
const summary = document.getElementById("summary");
const attention = document.getElementById("attention");
const attentionTiles = document.getElementById("attention-tiles");
const FIRST = { alarm: 0, pending: 1 }; // tiles shown under "Needs attention", in this order

// The high/low limits the latest value is beyond while no alarm of that rule is active:
// the edge's `for` delay is running (central says so too: status `pending`).
const LIMITS = [["high", "above", (v, l) => v > l], ["low", "below", (v, l) => v < l]];
function pendingRules(s) {
  const v = s.last_value;
  if (typeof v !== "number") return [];
  const active = new Set((s.active_alarms ?? []).map((a) => a.rule));
  const out = [];
  for (const [rule, key, beyond] of LIMITS) {
    const limit = s.alarms?.[rule]?.[key];
    if (typeof limit !== "number" || active.has(rule) || !beyond(v, limit)) continue;
    out.push({ rule, threshold: limit, for_s: s.alarms[rule].for_s ?? 0, since: s.since?.[rule] ?? null });
  }
  return out;
}

function status(s) {
  if (s.active_alarms?.length) return "alarm";
  if (s.last_time === null) return "unknown";
  const age = now() - s.last_time;
  const after = s.alarms?.offline?.after_s;
  if (typeof after === "number" && age > after) return "offline";
  if (pendingRules(s).length) return "pending";
  if (s.status === "critical") return "alarm";
  if (s.status === "warning") return "warning";
  if (s.status === "stale" || age > STALE_S) return "stale";
  return "normal";
}

async function loadSensors() {
  const data = await api("/api/v1/sensors");
  sensors.clear();
  for (const s of data.sensors) {
    s.last_time = epoch(s.last_time);
    s.since = Object.fromEntries((s.pending ?? []).map((p) => [p.rule, epoch(p.since)]));
    sensors.set(s.id, s);
  }
  render();
  loadSparks();
}

async function loadGateways() {
  const body = document.querySelector("#gateways tbody");
  try {
    const data = await api("/api/v1/gateways");
    body.replaceChildren(
      ...data.gateways.map((g) =>
        h("tr", {},
          h("th", { scope: "row" }, g.id),
          h("td", { "data-label": "State" }, h("span", { class: `badge ${g.online ? "st-normal" : "st-offline"}` }, g.online ? "online" : "offline")),
          h("td", { "data-label": "Last seen" }, fmtAgo(epoch(g.last_seen))),
          h("td", { "data-label": "Sync lag" }, g.lag_s === null ? "—" : fmtDuration(g.lag_s)),
          h("td", { "data-label": "Unsynced events" }, g.pending ?? "—"),
        ),
      ),
    );
    if (!data.gateways.length) body.replaceChildren(h("tr", {}, h("td", { colspan: 5 }, "No gateway has synced yet.")));
  } catch (error) {
    showError(body, error);
  }
}

function matches(s) {
  const q = query.value.trim().toLowerCase();
  const want = statusFilter.value;
  if (want && status(s) !== want) return false;
  if (!q) return true;
  return [s.id, s.site, s.kind, s.gateway].some((v) => (v ?? "").toLowerCase().includes(q));
}

function render() {
  const bySite = new Map();
  const urgent = [];
  let shown = 0;
  for (const s of [...sensors.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!matches(s)) continue;
    shown += 1;
    if (status(s) in FIRST) {
      urgent.push(s);
      continue;
    }
    const site = s.site ?? "no site";
    const kind = s.kind ?? "other";
    if (!bySite.has(site)) bySite.set(site, new Map());
    const kinds = bySite.get(site);
    if (!kinds.has(kind)) kinds.set(kind, []);
    kinds.get(kind).push(s);
  }
  const counts = {};
  for (const s of sensors.values()) counts[status(s)] = (counts[status(s)] ?? 0) + 1;
  summary.textContent =
    `${shown} of ${sensors.size} sensors shown — ` +
    Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
  const sections = [];
  for (const [site, kinds] of [...bySite.entries()].sort()) {
    const id = `site-${sections.length}`;
    sections.push(
      h("section", { class: "site", "aria-labelledby": id },
        h("h3", { id }, site),
        ...[...kinds.entries()].sort().map(([kind, list]) =>
          h("div", { class: "kind" },
            h("h4", {}, kind),
            h("ul", { class: "tiles" }, ...list.map((s) => h("li", {}, tile(s)))),
          ),
        ),
      ),
    );
  }
  if (!sections.length && !urgent.length) sections.push(h("p", { class: "muted" }, sensors.size ? "No sensor matches." : "No sensor has reported yet."));
  groups.replaceChildren(...sections);
  urgent.sort((a, b) => FIRST[status(a)] - FIRST[status(b)] || a.id.localeCompare(b.id));
  attentionTiles.replaceChildren(...urgent.map((s) => h("li", {}, tile(s, true))));
  attention.hidden = urgent.length === 0;
}

function tile(s, where = false) {
  const st = status(s);
  const el = h("a", { class: `tile st-${st}`, href: sensorHref(s.id), "data-status": st },
    h("span", { class: "tile-id" }, s.id),
    where ? h("span", { class: "tile-where muted" }, [s.site, s.kind].filter(Boolean).join(" · ")) : "",
    h("span", { class: "tile-value" }, fmtValue(s.last_value, s.unit)),
    h("span", { class: "tile-meta" },
      h("span", { class: `badge st-${st}` }, st),
      h("span", { class: "ago" }, fmtAgo(s.last_time)),
    ),
    note(s, st),
    spark(s.id),
  );
  el.dataset.sensor = s.id;
  return el;
}

// What a tile in trouble says beyond its badge: which limit, since when, what comes next.
function note(s, st) {
  if (st === "pending") {
    const p = pendingRules(s)[0];
    const word = p.rule === "high" ? "above" : "below";
    return h("span", { class: "tile-note" },
      `${word} ${fmtValue(p.threshold, s.unit)}`,
      p.since ? since(p.since, " for ") : "",
      p.for_s ? `; alarm after ${fmtDuration(p.for_s)}` : "",
    );
  }
  if (st === "alarm" && s.active_alarms?.length) {
    const a = s.active_alarms[0];
    const p = pendingRules(s)[0]; // another limit exceeded, its delay still running
    return h("span", { class: "tile-note" }, `${a.rule} alarm`, since(epoch(a.raised_at), " for "),
      p ? `; ${p.rule} limit ${fmtValue(p.threshold, s.unit)} exceeded, alarm after ${fmtDuration(p.for_s)}` : "");
  }
  return "";
}

function spark(id) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const points = (sparks.get(id) ?? []).filter(([t]) => t > now() - SPARK_WINDOW);
  if (points.length > 1) {
    const t0 = now() - SPARK_WINDOW;
    const values = points.map(([, v]) => v);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute(
      "points",
      points
        .map(([t, v]) => `${(((t - t0) / SPARK_WINDOW) * 100).toFixed(2)},${(22 - ((v - lo) / (hi - lo || 1)) * 20).toFixed(2)}`)
        .join(" "),
    );
    svg.append(line);
  }
  return svg;
}

async function loadSparks() {
  const ids = [...sensors.keys()].filter((id) => !sparks.has(id));
  const from = Math.floor(now() - SPARK_WINDOW);
  const worker = async () => {
    for (let id = ids.shift(); id !== undefined; id = ids.shift()) {
      try {
        const data = await api(`/api/v1/sensors/${encodeURIComponent(id)}/readings?from=${from}&step=${SPARK_STEP}`);
        sparks.set(id, data.buckets.map((b) => [epoch(b.time) + SPARK_STEP / 2, b.avg]));
      } catch {
        sparks.set(id, []);
      }
      redrawTile(id);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

function redrawTile(id) {
  const s = sensors.get(id);
  const old = [...document.querySelectorAll(".tile")].find((el) => el.dataset.sensor === id);
  if (!s || !old) return;
  if (status(s) !== old.dataset.status) {
    render(); // it moves in or out of "Needs attention"
    return;
  }
  const fresh = tile(s, attention.contains(old));
  const focused = document.activeElement === old;
  old.replaceWith(fresh);
  if (focused) fresh.focus();
}

const reloadSensors = debounce(() => loadSensors().catch((e) => showError(groups, e)), 300);
const reloadGateways = debounce(loadGateways, 2000);

function onEvent(type, event) {
  if (type === "org.tracseq.reading") {
    const id = event.subject;
    const s = sensors.get(id);
    if (!s) {
      reloadSensors();
      return;
    }
    const t = epoch(event.time);
    if (s.last_time === null || t >= s.last_time) {
      const before = new Set(pendingRules(s).map((p) => p.rule));
      s.last_value = event.data.value;
      s.last_time = t;
      if (event.data.unit) s.unit = event.data.unit;
      const after = new Set(pendingRules(s).map((p) => p.rule));
      for (const rule of after) if (!before.has(rule)) s.since[rule] = t;
      for (const rule of before) if (!after.has(rule)) delete s.since[rule];
    }
    const line = sparks.get(id);
    if (line) line.push([t, event.data.value]);
    redrawTile(id);
    reloadGateways();
  } else if (type.startsWith("org.tracseq.gateway.")) {
    reloadGateways();
  } else if (type !== "org.tracseq.alarm.acknowledged") {
    reloadSensors(); // an acknowledgement changes no status (the banner follows it)
  }
}

query.addEventListener("input", render);
statusFilter.addEventListener("change", render);
document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());

loadGateways();
loadSensors().catch((e) => showError(groups, e));
live(onEvent, () => {
  sparks.clear();
  reloadSensors();
  reloadGateways();
});
// "x s ago" and stale/offline follow the clock, not only events.
setInterval(() => {
  for (const el of document.querySelectorAll(".tile")) {
    const s = sensors.get(el.dataset.sensor);
    if (!s) continue;
    if (status(s) !== el.dataset.status) redrawTile(s.id);
    else el.querySelector(".ago").textContent = fmtAgo(s.last_time);
  }
}, 5000);
