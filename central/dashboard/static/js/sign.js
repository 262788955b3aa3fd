// Electronic signatures (central/signatures.py): a fieldset asking for the meaning, the
// reason and the password — and the user name, which the first signing of a session needs
// (21 CFR 11.200); later signings in the same session need the password only.
import { api, h, me } from "./common.js";

export const MEANINGS = ["acknowledged", "reviewed", "approved", "corrective action taken", "performed", "verified"];
let seq = 0;

// fields(defaultMeaning) -> { element, value(), reset() }; value() is the API's `signature`
// object, or throws an Error naming what is missing.
export function signatureFields(meaning = "acknowledged") {
  const n = ++seq;
  const id = (name) => `sig-${name}-${n}`;
  const select = h("select", { id: id("meaning"), name: "meaning", required: true },
    h("option", { value: "" }, "— choose —"),
    ...MEANINGS.map((m) => h("option", { value: m, selected: m === meaning }, m)));
  const reason = h("textarea", { id: id("reason"), name: "reason", rows: 2, maxlength: 2000, required: true });
  const user = h("input", { id: id("username"), name: "username", autocomplete: "username", value: "" });
  const password = h("input", { id: id("password"), name: "password", type: "password", autocomplete: "current-password", required: true });
  const element = h("fieldset", { class: "signature" },
    h("legend", {}, `Electronic signature of ${me.name}`),
    h("label", { for: id("meaning") }, "Meaning"), select,
    h("label", { for: id("reason") }, "Reason"), reason,
    h("label", { for: id("username") }, "User name (the first signature of a session needs it)"), user,
    h("label", { for: id("password") }, "Password"), password,
    h("p", { class: "muted" }, "Signing is the legally binding equivalent of your handwritten signature."),
  );
  return {
    element,
    value() {
      if (!select.value) throw new Error("Choose the meaning of your signature.");
      if (!reason.value.trim()) throw new Error("A reason is required.");
      if (!password.value) throw new Error("Enter your password to sign.");
      const out = { meaning: select.value, reason: reason.value, password: password.value };
      if (user.value.trim()) out.username = user.value.trim();
      return out;
    },
    reset() {
      password.value = "";
    },
  };
}

// "signed by ada · approved · 2026-… UTC (… Europe/Stockholm) · reason"
export function signatureLine(s) {
  return h("span", { class: "signed" },
    "signed by ", h("strong", { class: "signer" }, s.signer), " · ",
    h("span", { class: "meaning" }, s.meaning), " · ",
    h("time", { datetime: s.signed_at }, `${s.signed_at} UTC`), ` (${s.local_time} ${s.zone})`,
    " · reason: ", h("span", { class: "reason" }, s.reason));
}

// A signed acknowledgement of one alarm (POST /api/v1/alarms/{id}/signed-ack) -> the ack.
export function signedAck(alarmId, comment, signature) {
  return api(`/api/v1/alarms/${encodeURIComponent(alarmId)}/signed-ack`, {
    method: "POST", body: { comment, signature },
  });
}

// A signed acknowledgement of a sensor's alarms, all in one transaction or none
// (POST /api/v1/sensors/{sensor}/signed-ack) -> {sensor, acks}.
export function signedSensorAck(subject, alarmIds, comment, signature) {
  return api(`/api/v1/sensors/${encodeURIComponent(subject)}/signed-ack`, {
    method: "POST", body: { comment, signature, alarm_ids: alarmIds },
  });
}
