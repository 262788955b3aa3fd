// Excursion report of a sensor or a site over a period (central/report_data.py): figures,
// coverage and gaps, calibration status, every excursion with its alarm (or why none) and
// signed acknowledgements; CSV/PDF; approving the report (signed). Operators and admins
// acknowledge an excursion's alarm with a signature from here.
import { ApiError, api, canAck, fmtDuration, fmtValue, h, sensorHref, showError } from "./common.js";
import { signatureFields, signatureLine } from "./sign.js";

const params = new URLSearchParams(location.search);
const out = document.getElementById("out");
const what = document.getElementById("what");
const fromInput = document.getElementById("from");
const toInput = document.getElementById("to");
const iso = (v) => (v.length === 16 ? `${v}:00Z` : `${v}Z`);
const local = (t) => new Date(t * 1000).toISOString().slice(0, 16);

function query() {
  const kind = params.get("site") ? "sites" : "sensors";
  const subject = params.get("site") ?? params.get("sensor") ?? "";
  const to = params.get("to") ?? new Date().toISOString();
  const from = params.get("from") ?? new Date(Date.parse(to) - 7 * 86400e3).toISOString();
  return { kind, subject, from, to };
}

async function pickers() {
  const { kind, subject, from, to } = query();
  const sensors = (await api("/api/v1/sensors")).sensors;
  const sites = [...new Set(sensors.map((s) => s.site).filter(Boolean))].sort();
  what.replaceChildren(
    h("optgroup", { label: "Sensors" }, ...sensors.map((s) =>
      h("option", { value: `sensor:${s.id}`, selected: kind === "sensors" && s.id === subject }, s.id))),
    h("optgroup", { label: "Sites" }, ...sites.map((s) =>
      h("option", { value: `site:${s}`, selected: kind === "sites" && s === subject }, s))),
  );
  fromInput.value = local(Date.parse(from) / 1000);
  toInput.value = local(Date.parse(to) / 1000);
}

document.getElementById("pick").addEventListener("submit", (event) => {
  event.preventDefault();
  const [kind, ...rest] = what.value.split(":");
  const next = new URLSearchParams({ [kind]: rest.join(":"), from: iso(fromInput.value), to: iso(toInput.value) });
  location.assign(`/report?${next}`);
});

function ackBlock(ack) {
  return h("li", { class: "ack" },
    h("strong", { class: "ack-by" }, ack.by), ` at ${ack.at}: `, h("span", { class: "ack-comment" }, ack.comment),
    ...ack.signatures.map((s) => h("div", {}, signatureLine(s))));
}

function signForm(label, meaning, submit) {
  const fields = signatureFields(meaning);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "sign-form" }, fields.element, error, h("button", { type: "submit" }, label));
  form.noValidate = true; // the fields' own check names what is missing
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await submit(fields.value());
      await load();
    } catch (e) {
      fields.reset();
      error.textContent = e instanceof ApiError && e.status === 403 ? `Not signed: ${e.message}` : e.message;
    }
  });
  return form;
}

function excursions(r) {
  if (!r.excursions.length) return h("p", { class: "muted" }, "No excursion in this period.");
  return h("div", { class: "scroll" }, h("table", { class: "excursions" },
    h("thead", {}, h("tr", {}, ...["Rule", "Start (UTC)", "End (UTC)", "Duration", "Peak", "MKT", "Alarm", "Acknowledgements"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...r.excursions.map((x) => {
      const row = h("tr", { class: "excursion" },
        h("td", {}, x.rule),
        h("td", {}, x.start),
        h("td", {}, x.end, x.ongoing ? " (ongoing)" : ""),
        h("td", {}, fmtDuration(x.duration_s)),
        h("td", {}, fmtValue(x.peak, r.unit)),
        h("td", {}, x.mkt === null ? "—" : fmtValue(x.mkt, r.unit)),
        h("td", {}, x.alarm.priority ? h("span", { class: `badge priority-${x.alarm.priority}` }, x.alarm.priority) : "",
          x.alarm.priority ? " " : "", h("span", { class: "alarm-state" }, x.alarm.state), `: ${x.alarm.why}`,
          x.gaps.length ? ` (data gap ${x.gaps.map((g) => `${g.from} – ${g.to}`).join(", ")})` : ""),
        h("td", {}, x.acks.length ? h("ul", { class: "acks" }, ...x.acks.map(ackBlock)) : "none",
          x.notifications?.length ? h("p", {}, `notified: ${x.notifications.map((n) => `${n.channel} ${n.state}`).join(", ")}`) : ""),
      );
      row.dataset.alarmId = x.alarm_id ?? "";
      if (canAck && x.alarm_id) {
        const details = h("details", { class: "sign-ack" }, h("summary", {}, "Acknowledge with signature"),
          signForm("Sign acknowledgement", "acknowledged", (signature) =>
            api(`/api/v1/alarms/${encodeURIComponent(x.alarm_id)}/signed-ack`, { method: "POST", body: { signature } })));
        row.lastChild.append(details);
      }
      return row;
    }))));
}

function sensorSection(r, heading) {
  const calibration = r.calibration.status === "not managed"
    ? "no calibration records"
    : r.calibration.status === "valid"
      ? `in calibration for the whole period (${r.calibration.records.map((c) => c.certificate).join(", ")})`
      : `NOT covered: ${r.calibration.uncovered.map((u) => `${u.why} ${u.from} – ${u.to}`).join("; ")}`;
  const facts = [
    ["Readings", r.count],
    ["Min / max", `${fmtValue(r.min, r.unit)} / ${fmtValue(r.max, r.unit)}`],
    ["Mean / time-weighted mean", `${fmtValue(r.mean, r.unit)} / ${fmtValue(r.time_weighted_mean, r.unit)}`],
    ["Mean kinetic temperature", r.mkt === null ? "—" : fmtValue(r.mkt, r.unit)],
    ["Limits", `above ${r.thresholds.above ?? "—"} / below ${r.thresholds.below ?? "—"}`],
    ["Time out of range", fmtDuration(r.time_out_of_range_s)],
    ["Data coverage", r.coverage === null ? "—" : `${(100 * r.coverage).toFixed(2)} %`],
    ["Offline gaps", r.gaps.length ? r.gaps.map((g) => `${g.from} – ${g.to}`).join("; ") : "none"],
    ["Calibration", calibration],
  ];
  return h("section", { class: "sensor-report" },
    heading ? h("h2", {}, h("a", { href: sensorHref(r.sensor) }, r.sensor)) : "",
    h("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
    h("h3", {}, "Excursions"), excursions(r));
}

async function load() {
  const { kind, subject, from, to } = query();
  if (!subject) {
    out.replaceChildren(h("p", { class: "muted" }, "Choose a sensor or a site and a period."));
    return;
  }
  const base = `/api/v1/reports/${kind}/${encodeURIComponent(subject)}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  out.replaceChildren(h("p", { class: "muted" }, "computing…"));
  const r = await api(base);
  const links = h("p", { class: "exports" },
    kind === "sensors" ? h("a", { href: `${base}&format=csv`, download: true }, "CSV") : "", " ",
    h("a", { href: `${base}&format=pdf`, download: true }, "PDF"));
  const approvals = h("section", { class: "approvals" }, h("h2", {}, "Approvals"),
    r.approvals.length
      ? h("ul", {}, ...r.approvals.map((a) => h("li", {}, signatureLine(a), a.current ? "" : " — for an earlier version of these figures")))
      : h("p", { class: "muted" }, "Not approved yet."),
    h("p", { class: "muted" }, `Report content SHA-256: `, h("code", { class: "hash" }, r.content_sha256)));
  if (canAck) {
    approvals.append(h("details", { class: "sign-approve" }, h("summary", {}, "Approve this report (signed)"),
      signForm("Sign approval", "approved", (signature) => api("/api/v1/reports/approvals", {
        method: "POST",
        body: { kind: kind === "sites" ? "site" : "sensor", subject, from: r.from, to: r.to, content_sha256: r.content_sha256, signature },
      }))));
  }
  const title = h("h2", {}, `${kind === "sites" ? "Site" : "Sensor"} ${subject}: ${r.from} – ${r.to}`);
  const body = kind === "sites" ? r.sensors.map((s) => sensorSection(s, true)) : [sensorSection(r, false)];
  out.replaceChildren(title, links, ...body, approvals);
}

pickers().catch((e) => showError(out, e));
load().catch((e) => showError(out, e));
