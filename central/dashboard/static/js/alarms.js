// Alarms: a card per sensor with its active alarms and one acknowledgement covering them,
// unacknowledged sensors first; then past alarms. Operators and admins acknowledge with a
// comment (required); viewers see no form (and the API refuses them with 403).
//
// Live updates patch the page in place -- cards are keyed by sensor and alarm id and only
// what changed is rewritten -- so a half-typed comment, its cursor and the focus survive
// every alarm, reading and acknowledgement that arrives meanwhile. Another person's
// acknowledgement comes on the stream and shows at once.
import { ackForm } from "./ackform.js";
import { signatureLine, signedAck, signedSensorAck } from "./sign.js";
import {
  announce, api, canAck, debounce, epoch, fmtAlarmValue, fmtTime, fmtValue, h, live, me,
  sensorHref, since,
} from "./common.js";

const activeBox = document.getElementById("active");
const pastBox = document.getElementById("past");
const errorBox = document.getElementById("alarms-error");
const alarms = new Map(); // alarm_id -> alarm as the API sends it
const twins = new Map(); // sensor id -> twin (current value and unit)
const groups = new Map(); // subject -> the card of a sensor's (or gateway's) active alarms
const pastCards = new Map(); // alarm_id -> the card of a past alarm
let seq = 0;
let linkHandled = false;

const RULES = {
  high: "High limit",
  low: "Low limit",
  rate: "Rising too fast",
  offline: "No readings",
  gateway_offline: "Gateway silent",
};
const subjectOf = (a) => a.subject ?? a.gateway ?? "?";
const isGateway = (a) => a.rule === "gateway_offline";
const raisedAt = (a) => epoch(a.raised_at) ?? 0;

async function load() {
  try {
    const [active, all, sensors] = await Promise.all([
      api("/api/v1/alarms?state=active&limit=10000"),
      api("/api/v1/alarms?state=all&limit=300"),
      api("/api/v1/sensors"),
    ]);
    alarms.clear();
    for (const a of [...all.alarms, ...active.alarms]) alarms.set(a.alarm_id, a);
    twins.clear();
    for (const s of sensors.sensors) twins.set(s.id, s);
    errorBox.textContent = "";
    render();
    followLink();
  } catch (e) {
    errorBox.textContent = String(e.message ?? e);
  }
}

function render() {
  const bySubject = new Map();
  const past = [];
  for (const a of alarms.values()) {
    if (a.state !== "active") {
      past.push(a);
      continue;
    }
    const key = subjectOf(a);
    if (!bySubject.has(key)) bySubject.set(key, []);
    bySubject.get(key).push(a);
  }
  const order = [...bySubject.entries()]
    .map(([subject, list]) => {
      list.sort((x, y) => x.acknowledged - y.acknowledged || raisedAt(y) - raisedAt(x));
      return { subject, list, open: list.filter((a) => !a.acknowledged), newest: Math.max(...list.map(raisedAt)) };
    })
    .sort((x, y) => (x.open.length === 0) - (y.open.length === 0) || y.newest - x.newest || x.subject.localeCompare(y.subject));
  for (const [subject, g] of groups) {
    if (!bySubject.has(subject)) {
      g.el.remove();
      groups.delete(subject);
    }
  }
  place(activeBox, order.map(patchGroup), "No active alarms.");

  past.sort((x, y) => raisedAt(y) - raisedAt(x));
  const keep = new Set(past.map((a) => a.alarm_id));
  for (const [id, c] of pastCards) {
    if (!keep.has(id)) {
      c.el.remove();
      pastCards.delete(id);
    }
  }
  place(pastBox, past.map(patchPast), "No past alarms.");
}

// Put `els` into `box` in this order, moving only what is out of place, and give the
// focus (and a text field's selection) back if a move took it away.
function place(box, els, empty) {
  const focused = box.contains(document.activeElement) ? document.activeElement : null;
  let selection = null;
  try {
    selection = focused && typeof focused.selectionStart === "number" ? [focused.selectionStart, focused.selectionEnd] : null;
  } catch {
    selection = null;
  }
  if (!els.length) {
    if (box.dataset.empty !== "1") box.replaceChildren(h("p", { class: "muted" }, empty));
    box.dataset.empty = "1";
    return;
  }
  box.dataset.empty = "0";
  for (const child of [...box.children]) if (!els.includes(child)) child.remove();
  els.forEach((el, i) => {
    if (box.children[i] !== el) box.insertBefore(el, box.children[i] ?? null);
  });
  if (focused && focused.isConnected && document.activeElement !== focused) {
    focused.focus({ preventScroll: true });
    if (selection) focused.setSelectionRange(...selection);
  }
}

function patchGroup({ subject, list, open }) {
  let g = groups.get(subject);
  if (!g) {
    g = makeGroup(subject, list[0]);
    groups.set(subject, g);
  }
  const acked = open.length === 0;
  g.el.className = `alarm alarm-group is-active ${acked ? "is-acked" : "is-open"}`;
  g.el.dataset.acknowledged = String(acked);
  paintNow(g, subject);
  const who = [...new Set(list.flatMap((a) => a.acks.map((k) => k.by)))];
  setChildren(g.state, acked
    ? [h("span", { class: "badge st-acked" }, "acknowledged"), " ", h("span", { class: "acked-by" }, `Acknowledged by ${who.join(", ")}`)]
    : [h("span", { class: "badge st-alarm" }, "alarm"), ` ${open.length} of ${list.length} alarm${list.length === 1 ? "" : "s"} not acknowledged`]);
  patchItems(g.rules, list, alarmItem);
  const draft = g.form?.comment.value.trim();
  if (canAck && (open.length || draft)) {
    if (!g.form) {
      g.form = ackForm(`Comment (acknowledging as ${me.name})`, (comment, signature) => acknowledge(subject, comment, signature));
      g.el.append(g.form.form);
    }
    g.ids = (open.length ? open : list).map((a) => a.alarm_id);
    const n = g.ids.length;
    setText(g.form.button, n > 1 ? `Acknowledge ${n} alarms` : "Acknowledge");
    setText(g.form.note, open.length
      ? (n > 1 ? `One comment covers ${n === 2 ? "both" : `all ${n}`} alarms of ${subject}.` : "")
      : `Acknowledged by ${who.join(", ")} while you typed; send yours too if it adds something.`);
  } else if (g.form) {
    g.form.form.remove();
    g.form = null;
  }
  return g.el;
}

function makeGroup(subject, first) {
  const id = `g${++seq}`;
  const head = h("h3", { id, tabindex: "-1" },
    isGateway(first) ? h("span", { class: "alarm-subject" }, `gateway ${subject}`) : h("a", { class: "alarm-subject", href: sensorHref(subject) }, subject));
  const now = h("p", { class: "now" });
  const state = h("p", { class: "group-state" });
  const rules = h("ul", { class: "alarm-rules" });
  const el = h("article", { "aria-labelledby": id }, head, now, state, rules);
  el.dataset.subject = subject;
  return { el, head, now, state, rules, form: null, ids: [] };
}

function paintNow(g, subject) {
  const twin = twins.get(subject);
  g.now.hidden = !twin;
  if (twin) setText(g.now, `Now ${fmtValue(twin.last_value, twin.unit)}${twin.last_time ? ` (${fmtTime(twin.last_time)})` : ""}`);
}

// One line per alarm, rewritten only when the alarm changed (its text holds no input).
function patchItems(list, items, make) {
  const have = new Map([...list.children].map((li) => [li.dataset.alarmId, li]));
  const els = items.map((a) => {
    const key = JSON.stringify([a.state, a.value, a.threshold, a.acks.length, a.cleared_at, a.unit]);
    let li = have.get(a.alarm_id);
    if (!li || li.dataset.key !== key) {
      const fresh = make(a);
      fresh.dataset.alarmId = a.alarm_id;
      fresh.dataset.key = key;
      if (li) li.replaceWith(fresh);
      li = fresh;
    }
    return li;
  });
  for (const li of list.children) if (!els.includes(li)) li.remove();
  els.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
}

function alarmItem(a) {
  return h("li", { class: a.acknowledged ? "rule is-acked" : "rule" },
    h("p", {},
      h("strong", {}, RULES[a.rule] ?? a.rule),
      a.value === null ? "" : `: ${fmtAlarmValue(a.value, a.unit)}`,
      a.threshold === null ? "" : ` (limit ${fmtAlarmValue(a.threshold, a.unit)})`,
    ),
    h("p", { class: "muted" }, `raised ${fmtTime(a.raised_at)}, `, a.state === "active" ? since(raisedAt(a), "active for ") : `lasted ${fmtAlarmValue(a.duration_s, "s")}`),
    acksOf(a),
  );
}

function acksOf(a) {
  if (!a.acks.length) return h("p", { class: "unacked" }, "Not acknowledged.");
  return h("ul", { class: "acks" }, ...a.acks.map((k) =>
    h("li", {}, "Acknowledged by ", h("strong", { class: "ack-by" }, k.by), ackActor(k), ` at ${fmtTime(k.at)}: `, h("span", { class: "ack-comment" }, k.comment),
      ...(k.signature ? [" — ", signatureLine(k.signature)] : []))));
}

// Who really sent it (user:NAME or apikey:NAME), beside the name given as `by`: an API
// key may acknowledge on someone's behalf, and the page must not hide that.
export function ackActor(k) {
  return k.actor && k.actor !== `user:${k.by}` ? h("span", { class: "ack-actor muted" }, ` (sent by ${k.actor})`) : "";
}

function patchPast(a) {
  let c = pastCards.get(a.alarm_id);
  const key = JSON.stringify([a.acks.length, a.cleared_at]);
  if (!c) {
    c = { el: h("article", { class: "alarm is-past" }), key: "", form: null };
    c.el.dataset.alarmId = a.alarm_id;
    pastCards.set(a.alarm_id, c);
  }
  if (c.key !== key) {
    c.key = key;
    const subject = subjectOf(a);
    const body = [
      h("h3", {}, isGateway(a) ? `gateway ${subject}` : h("a", { class: "alarm-subject", href: sensorHref(subject) }, subject), ` — ${RULES[a.rule] ?? a.rule}`),
      h("p", {},
        h("span", { class: "badge st-normal" }, "cleared"),
        ` raised ${fmtTime(a.raised_at)}, lasted ${fmtAlarmValue(a.duration_s, "s")}`,
        a.value === null ? "" : `; value ${fmtAlarmValue(a.value, a.unit)}`,
        a.threshold === null ? "" : `, limit ${fmtAlarmValue(a.threshold, a.unit)}`,
      ),
      acksOf(a),
    ];
    // The form (and a draft in it) stays; only the text around it is rewritten.
    for (const child of [...c.el.children]) if (child !== c.form?.form) child.remove();
    c.el.prepend(...body);
  }
  if (canAck && !a.acknowledged && !c.form) {
    c.form = ackForm(`Comment (acknowledging as ${me.name})`, (comment, signature) => acknowledgeOne(a.alarm_id, comment, signature));
    c.el.append(c.form.form);
  } else if (a.acknowledged && c.form && !c.form.comment.value.trim()) {
    c.form.form.remove();
    c.form = null;
  }
  return c.el;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setChildren(el, children) {
  const probe = h("span", {}, ...children);
  if (probe.innerHTML !== el.innerHTML) el.replaceChildren(...probe.childNodes);
}

function applyAck(ack) {
  const a = alarms.get(ack.alarm_id);
  if (!a) return false;
  if (!a.acks.some((k) => k.id === ack.id)) a.acks.push(ack);
  a.acknowledged = true;
  return true;
}

async function acknowledge(subject, comment, signature) {
  const g = groups.get(subject);
  const ids = g.ids;
  if (signature) {  // every alarm signed in one transaction, or none (the error names it)
    const r = await signedSensorAck(subject, ids, comment, signature);
    r.acks.forEach(applyAck);
  } else {
    const r = await api(`/api/v1/sensors/${encodeURIComponent(subject)}/ack`, {
      method: "POST",
      body: { comment, alarm_ids: ids },
    });
    r.acks.forEach(applyAck);
  }
  return () => {
    render();
    done(groups.get(subject)?.head, `Acknowledged ${ids.length} alarm${ids.length === 1 ? "" : "s"} on ${subject} as ${me.name}.`);
  };
}

async function acknowledgeOne(alarmId, comment, signature) {
  const ack = signature
    ? await signedAck(alarmId, comment, signature)
    : await api(`/api/v1/alarms/${encodeURIComponent(alarmId)}/ack`, { method: "POST", body: { comment } });
  applyAck(ack);
  return () => {
    render();
    done(pastCards.get(alarmId)?.el.querySelector("h3"), `Acknowledged the alarm as ${me.name}.`);
  };
}

// After acknowledging: the focus goes to the card's heading (now "acknowledged by …"),
// not to the page body, and a screen reader hears that it worked.
function done(heading, message) {
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  announce(message);
}

// A notification's link (/alarms?ack=<alarm_id>) opens the page at that alarm's comment box.
function followLink() {
  if (linkHandled) return;
  linkHandled = true;
  const wanted = new URLSearchParams(location.search).get("ack");
  const a = wanted && alarms.get(wanted);
  if (!a) return;
  const card = a.state === "active" ? groups.get(subjectOf(a)) : pastCards.get(wanted);
  const target = card?.form?.comment ?? card?.el.querySelector("h3");
  target?.scrollIntoView({ block: "center" });
  target?.focus({ preventScroll: true });
}

const reload = debounce(load, 300);
load();
live((type, event) => {
  if (type === "org.tracseq.alarm.acknowledged") {
    if (applyAck({ ...event.data })) render();
    else reload();
  } else if (type.startsWith("org.tracseq.alarm.")) {
    reload();
  } else if (type === "org.tracseq.reading") {
    const twin = twins.get(event.subject);
    const g = groups.get(event.subject);
    if (twin && (!twin.last_time || epoch(event.time) >= epoch(twin.last_time))) {
      twin.last_value = event.data.value;
      twin.last_time = event.time;
      if (g) paintNow(g, event.subject);
    }
  }
}, reload);
