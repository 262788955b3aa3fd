// The sensor page's calibration section (central/calibration.py): records with their
// signatures and certificates, an overdue warning, and for operators and admins a signed
// form to add a record (the certificate PDF is sent as base64, at most 5 MiB).
import { api, canAck, h, showError } from "./common.js";
import { signatureFields, signatureLine } from "./sign.js";

const MAX_PDF = 5 * 1024 * 1024;

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function table(rows) {
  return h("div", { class: "scroll" }, h("table", { class: "calibrations" },
    h("thead", {}, h("tr", {}, ...["Certificate", "Reference", "Performed", "Due", "By", "As found / as left", "Signatures"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...rows.map((c) => h("tr", { class: "calibration" },
      h("td", {}, c.attachment_sha256 ? h("a", { href: `/api/v1/calibrations/${c.id}/certificate` }, c.certificate) : c.certificate, c.version > 1 ? ` (version ${c.version})` : ""),
      h("td", {}, c.reference),
      h("td", {}, c.performed_at),
      h("td", {}, c.due_at),
      h("td", {}, c.performed_by),
      h("td", {}, c.points.map((p) => `${p.nominal}: ${p.as_found} → ${p.as_left}`).join("; ")),
      h("td", {}, ...c.signatures.map((s) => h("div", {}, signatureLine(s)))),
    )))));
}

function field(name, label, attrs = {}) {
  const input = h("input", { id: `cal-${name}`, name, required: true, ...attrs });
  return [h("label", { for: `cal-${name}` }, label), input];
}

function form(sensor, reload) {
  const fields = signatureFields("performed");
  const error = h("p", { class: "error", role: "alert" });
  const el = h("form", { class: "stack cal-form" },
    ...field("certificate", "Certificate number"),
    ...field("reference", "Reference standard"),
    ...field("performed_at", "Performed (UTC)", { type: "date" }),
    ...field("due_at", "Due (UTC)", { type: "date" }),
    ...field("performed_by", "Performed by"),
    ...field("points", "Points: nominal/as-found/as-left, separated by ; (e.g. -80/-79.6/-80.0)"),
    ...field("pdf", "Certificate (PDF, at most 5 MiB)", { type: "file", accept: "application/pdf", required: false }),
    fields.element, error, h("button", { type: "submit" }, "Sign and save"));
  el.noValidate = true;
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const v = (name) => el.querySelector(`[name="${name}"]`).value.trim();
    try {
      const signature = fields.value();
      const points = v("points").split(";").filter(Boolean).map((p) => {
        const [nominal, asFound, asLeft] = p.split("/").map(Number);
        if ([nominal, asFound, asLeft].some((n) => !isFinite(n))) throw new Error(`points: ${p} is not nominal/as-found/as-left`);
        return { nominal, as_found: asFound, as_left: asLeft };
      });
      const body = {
        certificate: v("certificate"), reference: v("reference"), performed_by: v("performed_by"),
        performed_at: `${v("performed_at")}T00:00:00Z`, due_at: `${v("due_at")}T00:00:00Z`, points, signature,
      };
      const file = el.querySelector('[name="pdf"]').files[0];
      if (file) {
        if (file.size > MAX_PDF) throw new Error("The certificate is over 5 MiB.");
        body.certificate_pdf = await base64(file);
        body.certificate_name = file.name;
      }
      await api(`/api/v1/sensors/${encodeURIComponent(sensor)}/calibrations`, { method: "POST", body });
      await reload();
    } catch (e) {
      fields.reset();
      error.textContent = e.message;
    }
  });
  return h("details", { class: "add-calibration" }, h("summary", {}, "Record a calibration (signed)"), el);
}

export async function loadCalibration(sensor) {
  const box = document.getElementById("calibration");
  const reload = () => loadCalibration(sensor).catch((e) => showError(box, e));
  const r = await api(`/api/v1/sensors/${encodeURIComponent(sensor)}/calibrations`);
  const parts = [];
  if (r.overdue) parts.push(h("p", { class: "overdue", role: "alert" }, `Calibration overdue since ${r.due_at}.`));
  else if (r.due_at) parts.push(h("p", {}, `Next calibration due ${r.due_at}.`));
  parts.push(r.calibrations.length ? table(r.calibrations) : h("p", { class: "muted" }, "No calibration records."));
  if (canAck) parts.push(form(sensor, reload));
  box.replaceChildren(...parts);
}
