// Sensor page: readings chart (uPlot; min/avg/max per step from the downsampled query,
// ~720 buckets whatever the range), alarm limits and alarm periods drawn on it, the
// report with CSV export, alarm history and analytics. The x axis always spans the range
// picked (24 h shows 24 h, however few readings there are); active alarms can be
// acknowledged here with one comment.
import { ackForm } from "./ackform.js";
import { loadCalibration } from "./calibration.js";
import { signedAck } from "./sign.js";
import {
  announce, api, canAck, epoch, fmtAlarmValue, fmtDuration, fmtTime, fmtValue, h, live, me, now,
  showError, unitLabel,
} from "./common.js";

const id = new URLSearchParams(location.search).get("id") ?? "";
const enc = encodeURIComponent(id);
const BUCKETS = 720;
let range = Number(sessionStorage.getItem("tracseq-range") ?? 86400);
let twin = null;
let alarms = [];
let plot = null;
let uPlot = null;
let data = [[], [], [], []];
let windowEnd = now(); // the x axis shows [windowEnd - range, windowEnd]
let ack = null; // the acknowledgement form, kept across updates (a draft survives them)

const chartBox = document.getElementById("chart");
const note = document.getElementById("chart-note");

document.getElementById("crumb").textContent = id;
document.getElementById("title").textContent = id;
document.title = `${id} · TracSeq Edge`;

function limits() {
  const a = twin?.alarms ?? {};
  return { high: a.high?.above ?? null, low: a.low?.below ?? null };
}

async function loadTwin() {
  const all = await api("/api/v1/sensors");
  twin = all.sensors.find((s) => s.id === id) ?? null;
  const box = document.getElementById("twin");
  if (!twin) {
    box.replaceChildren(h("p", { class: "error", role: "alert" }, "No such sensor."));
    return;
  }
  const { high, low } = limits();
  const pending = (twin.pending ?? []).map((p) =>
    `${p.rule === "high" ? "above" : "below"} ${fmtValue(p.threshold, twin.unit)}` +
    `${p.since ? ` since ${fmtTime(p.since)}` : ""}; alarm after ${fmtDuration(p.for_s)}`);
  const facts = [
    ["Latest", `${fmtValue(twin.last_value, twin.unit)} at ${fmtTime(twin.last_time)}`],
    ["Status", [twin.status, ...pending].join(": ")],
    ["Kind", twin.kind ?? "—"],
    ["Site", twin.site ?? "—"],
    ["Gateway", twin.gateway ?? "—"],
    ["High limit", high === null ? "—" : fmtValue(high, twin.unit)],
    ["Low limit", low === null ? "—" : fmtValue(low, twin.unit)],
    ["Offline after", twin.alarms?.offline?.after_s ? fmtDuration(twin.alarms.offline.after_s) : "—"],
  ];
  box.replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function loadAlarms() {
  const all = await api("/api/v1/alarms?state=all&limit=10000");
  alarms = all.alarms.filter((a) => a.subject === id);
  paintAck();
  const box = document.getElementById("history");
  if (!alarms.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No alarms."));
    return;
  }
  const columns = ["Rule", "State", "Raised", "Duration", "Value", "Limit", "Acknowledged by"];
  box.replaceChildren(
    h("table", { class: "cards" },
      h("thead", {}, h("tr", {}, ...columns.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...alarms.map((a) => {
        const cells = [
          a.rule,
          h("span", { class: `badge st-${a.state === "active" ? (a.acknowledged ? "acked" : "alarm") : "normal"}` },
            a.state === "active" && a.acknowledged ? "active, acknowledged" : a.state),
          fmtTime(a.raised_at),
          fmtDuration(a.duration_s),
          fmtAlarmValue(a.value, a.unit),
          fmtAlarmValue(a.threshold, a.unit),
          a.acks.map((k) => `${k.by}${k.actor && k.actor !== `user:${k.by}` ? ` (sent by ${k.actor})` : ""}: ${k.comment}`).join("; ") || "—",
        ];
        return h("tr", {}, ...cells.map((c, i) => h("td", { "data-label": columns[i] }, c)));
      })),
    ),
  );
}

// The sensor's active alarms nobody acknowledged yet, with one form covering them all.
function paintAck() {
  const box = document.getElementById("ack-box");
  const list = document.getElementById("ack-list");
  const open = alarms.filter((a) => a.state === "active" && !a.acknowledged);
  const acked = alarms.filter((a) => a.state === "active" && a.acknowledged);
  box.hidden = !open.length && !acked.length && !ack?.comment.value.trim();
  list.replaceChildren(...[...open, ...acked].map((a) =>
    h("li", {}, h("strong", {}, a.rule), `: ${fmtAlarmValue(a.value, a.unit)} (limit ${fmtAlarmValue(a.threshold, a.unit)}), raised ${fmtTime(a.raised_at)} — `,
      a.acknowledged ? `acknowledged by ${[...new Set(a.acks.map((k) => k.by))].join(", ")}` : "not acknowledged")));
  if (!canAck) return;
  if (open.length && !ack) {
    ack = ackForm(`Comment (acknowledging as ${me.name})`, async (comment, signature) => {
      const ids = alarms.filter((a) => a.state === "active" && !a.acknowledged).map((a) => a.alarm_id);
      if (signature) {  // --require-signatures: one signed acknowledgement per alarm
        for (const alarmId of ids) await signedAck(alarmId, comment, signature);
      } else {
        await api(`/api/v1/sensors/${enc}/ack`, { method: "POST", body: { comment, alarm_ids: ids } });
      }
      return async () => {
        await loadAlarms().catch(() => {});
        document.getElementById("ack-h").focus();
        announce(`Acknowledged ${ids.length} alarm${ids.length === 1 ? "" : "s"} on ${id} as ${me.name}.`);
      };
    });
    box.append(ack.form);
  } else if (!open.length && ack && !ack.comment.value.trim()) {
    ack.form.remove();
    ack = null;
  }
  if (ack) {
    ack.button.textContent = open.length > 1 ? `Acknowledge ${open.length} alarms` : "Acknowledge";
  }
}

async function loadAnalytics() {
  const box = document.getElementById("analytics");
  const result = await api(`/api/v1/sensors/${enc}/analytics?limit=20`);
  if (!result.events.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No predictions or findings from analytics."));
    return;
  }
  box.replaceChildren(
    h("ul", { class: "plain" }, ...result.events.map((e) => {
      const d = e.data;
      let text;
      if (e.type.endsWith(".prediction")) {
        text = d.predicted_at
          ? `Predicted to cross ${d.rule} limit ${fmtValue(d.threshold, twin?.unit)} at ${fmtTime(d.predicted_at)} (trend ${fmtValue(d.slope_per_h)}/h)`
          : `Prediction for ${d.rule} cleared`;
      } else if (e.type.endsWith(".status")) {
        text = `Status ${d.previous ?? "?"} → ${d.status}`;
      } else {
        text = `Sensor fault: ${d.fault}${d.detail ? ` (${d.detail})` : ""}`;
      }
      return h("li", {}, h("time", { datetime: e.time }, fmtTime(e.time)), " — ", text);
    })),
  );
}

let generation = 0; // a slower answer for an older range never overwrites a newer one

async function loadReport(from, to, mine) {
  const box = document.getElementById("report");
  const link = document.getElementById("report-csv");
  box.replaceChildren(h("dt", {}, "Report"), h("dd", {}, "computing…"));
  const r = await api(`/api/v1/reports/sensors/${enc}?from=${from}&to=${to}`);
  if (mine !== generation) return;
  link.href = `/api/v1/reports/sensors/${enc}?from=${from}&to=${to}&format=csv`;
  const iso = (t) => new Date(t * 1000).toISOString();
  document.getElementById("report-page").href = `/report?${new URLSearchParams({ sensor: id, from: iso(from), to: iso(to) })}`;
  const u = r.unit;
  const facts = [
    ["Readings", r.count],
    ["Min", fmtValue(r.min, u)],
    ["Max", fmtValue(r.max, u)],
    ["Mean", fmtValue(r.mean, u)],
    ["Time-weighted mean", fmtValue(r.time_weighted_mean, u)],
    ["Mean kinetic temperature", fmtValue(r.mkt, u)],
    ["Time above the high limit", r.time_above_s === null ? "no limit" : fmtDuration(r.time_above_s)],
    ["Time below the low limit", r.time_below_s === null ? "no limit" : fmtDuration(r.time_below_s)],
  ];
  box.replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

// Alarm limits as dashed lines; periods in alarm as red bands.
function overlay(u) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.fillStyle = "rgba(180, 35, 24, 0.12)";
  for (const a of alarms) {
    const from = epoch(a.raised_at);
    const to = a.cleared_at ? epoch(a.cleared_at) : now();
    if (from === null) continue;
    const x0 = u.valToPos(from, "x", true);
    const x1 = u.valToPos(to, "x", true);
    ctx.fillRect(x0, top, Math.max(x1 - x0, 2), height);
  }
  const { high, low } = limits();
  ctx.setLineDash([6, 4]);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  for (const [value, colour] of [[high, "#b42318"], [low, "#1849a9"]]) {
    if (value === null) continue;
    const y = u.valToPos(value, "y", true);
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
  }
  ctx.restore();
}

function size() {
  const width = Math.max(280, chartBox.clientWidth);
  return { width, height: Math.round(Math.min(360, Math.max(200, width * 0.45))) };
}

function draw() {
  const { high, low } = limits();
  const unit = unitLabel(twin?.unit ?? "");
  const opts = {
    ...size(),
    scales: {
      x: { time: true, range: () => [windowEnd - range, windowEnd] },
      y: {
        range: (u, lo, hi) => {
          const all = [lo, hi, high, low].filter((v) => v !== null && isFinite(v));
          const a = Math.min(...all);
          const b = Math.max(...all);
          const pad = (b - a) * 0.08 || 1;
          return [a - pad, b + pad];
        },
      },
    },
    axes: [{}, { label: unit, size: 60 }],
    series: [
      {},
      { label: "min", stroke: "#5b8def", width: 1 },
      { label: "avg", stroke: "#0b3d91", width: 2 },
      { label: "max", stroke: "#5b8def", width: 1 },
    ],
    bands: [{ series: [3, 1], fill: "rgba(91, 141, 239, 0.15)" }],
    hooks: {
      draw: [overlay],
      // What the axis shows, for people who read the page's attributes (and the tests).
      setScale: [(u, key) => {
        if (key !== "x") return;
        chartBox.dataset.xMin = String(u.scales.x.min);
        chartBox.dataset.xMax = String(u.scales.x.max);
      }],
    },
  };
  if (plot) plot.destroy();
  plot = new uPlot(opts, data, chartBox);
}

async function loadChart() {
  const to = Math.ceil(now());
  const from = to - range;
  windowEnd = to;
  const step = Math.max(1, Math.ceil(range / BUCKETS));
  for (const b of document.querySelectorAll("#ranges button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.range) === range));
  }
  note.textContent = "loading…";
  const mine = ++generation;
  const r = await api(`/api/v1/sensors/${enc}/readings?from=${from}&to=${to}&step=${step}`);
  if (mine !== generation) return;
  data = [[], [], [], []];
  for (const b of r.buckets) {
    data[0].push(epoch(b.time) + step / 2);
    data[1].push(b.min);
    data[2].push(b.avg);
    data[3].push(b.max);
  }
  const readings = r.buckets.reduce((n, b) => n + b.count, 0);
  note.textContent = `${fmtTime(new Date(from * 1000).toISOString())} – ${fmtTime(new Date(to * 1000).toISOString())}: ` +
    `${readings.toLocaleString()} readings in ${r.buckets.length} steps of ${fmtDuration(step)} (min, average and max per step).`;
  if (uPlot) draw();
  loadReport(from, to, mine).catch((e) => showError(document.getElementById("report"), e));
}

document.getElementById("ranges").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-range]");
  if (!button) return;
  range = Number(button.dataset.range);
  sessionStorage.setItem("tracseq-range", String(range));
  loadChart().catch((e) => showError(note, e));
});

window.addEventListener("resize", () => plot?.setSize(size()));

async function main() {
  try {
    uPlot = (await import("/static/vendor/uPlot.esm.js")).default;
  } catch {
    chartBox.replaceChildren(h("p", { class: "error", role: "alert" },
      "The chart library is missing: run `make demo` or `make test` once (it fetches uPlot with npm)."));
  }
  try {
    await loadTwin();
    await loadAlarms();
  } catch (e) {
    showError(document.getElementById("twin"), e);
  }
  await loadChart().catch((e) => showError(note, e));
  loadAnalytics().catch((e) => showError(document.getElementById("analytics"), e));
  loadCalibration(id).catch((e) => showError(document.getElementById("calibration"), e));
}

function onEvent(type, event) {
  if (type === "org.tracseq.reading" && event.subject === id) {
    const t = epoch(event.time);
    const v = event.data.value;
    if (twin) {
      twin.last_value = v;
      twin.last_time = event.time;
    }
    if (!data[0].length || t > data[0][data[0].length - 1]) {
      data[0].push(t);
      data[1].push(v);
      data[2].push(v);
      data[3].push(v);
      windowEnd = Math.max(windowEnd, Math.ceil(now()));
      plot?.setData(data);
    }
  } else if (type.startsWith("org.tracseq.alarm.") && event.subject === id) {
    loadAlarms().then(() => plot?.redraw()).catch(() => {});
    loadTwin().catch(() => {});
  } else if (type.startsWith("org.tracseq.analytics.") && (event.subject === id || event.data?.sensor === id)) {
    loadAnalytics().catch(() => {});
  }
}

main();
live(onEvent, () => main());
