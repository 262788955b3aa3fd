// Shared by every dashboard page: the API client (session cookie + CSRF header), a DOM
// builder that only ever inserts text (never HTML), formatting and the live stream.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
export const me = { name: meta("user"), role: meta("role"), csrf: meta("csrf-token") };
export const canAck = me.role === "operator" || me.role === "admin";
// central --require-signatures: acknowledgements and role changes are electronically signed
export const signing = meta("require-signatures") === "1";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = me.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await response.json() : null;
  if (response.status === 401 && me.name) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!response.ok) throw new ApiError(response.status, data?.error ?? response.statusText);
  return data;
}

// h("a", {href: "/x", class: "c"}, "text", child): strings become text nodes.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const sensorHref = (id) => `/sensor?id=${encodeURIComponent(id)}`;
export const epoch = (iso) => (iso ? Date.parse(iso) / 1000 : null);
export const now = () => Date.now() / 1000;

// Units as people write them: the API says degC, percent, degC/min.
const UNITS = { degC: "°C", degF: "°F", percent: "%", pct: "%", deg: "°" };
export function unitLabel(unit) {
  if (!unit) return "";
  const [base, per] = String(unit).split("/");
  const shown = UNITS[base] ?? base;
  return per ? `${shown}/${per}` : shown;
}

export function fmtValue(value, unit) {
  if (value === null || value === undefined) return "—";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const label = unitLabel(unit);
  return `${value.toFixed(digits)}${label ? ` ${label}` : ""}`;
}

// An alarm's value or limit in its unit (`s` of silence reads as a duration).
export function fmtAlarmValue(value, unit) {
  if (value === null || value === undefined) return "—";
  return unit === "s" ? fmtDuration(value) : fmtValue(value, unit);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export const fmtAgo = (t) => (t ? `${fmtDuration(now() - t)} ago` : "never");

// A duration that ticks: the element shows `prefix + fmtDuration(now - since) + suffix`
// and is brought up to date every second (see tick below), not only when an event arrives.
export function since(t, prefix = "", suffix = "") {
  const el = h("span", { class: "ticking", "data-since": t ?? "" }, "");
  el.dataset.prefix = prefix;
  el.dataset.suffix = suffix;
  paintSince(el);
  return el;
}

function paintSince(el) {
  const t = Number(el.dataset.since);
  const text = `${el.dataset.prefix}${el.dataset.since === "" ? "—" : fmtDuration(now() - t)}${el.dataset.suffix}`;
  if (el.textContent !== text) el.textContent = text;
}

setInterval(() => document.querySelectorAll("[data-since]").forEach(paintSince), 1000);

// Polite announcements for screen readers (the shell's #announce live region).
export function announce(text) {
  const region = document.getElementById("announce");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function showError(container, error) {
  container.replaceChildren(h("p", { class: "error", role: "alert" }, String(error.message ?? error)));
}

const TYPES = [
  "org.tracseq.reading",
  "org.tracseq.alarm.raised",
  "org.tracseq.alarm.cleared",
  "org.tracseq.alarm.acknowledged",
  "org.tracseq.sensor.described",
  "org.tracseq.gateway.started",
  "org.tracseq.gateway.stopped",
  "org.tracseq.gateway.heartbeat",
  "org.tracseq.analytics.prediction",
  "org.tracseq.analytics.status",
  "org.tracseq.analytics.sensor_fault",
];

// Live events over SSE. The browser resumes with Last-Event-ID after a drop; `onReset`
// runs when the server could not resume (restart, gap too old): reload state from the API.
// A connection can also die silently (a NAT or proxy forgot it, the laptop slept): no
// close reaches the browser. The server sends `keepalive` every `every_s` while idle, so
// silence for 2.5 times that means the connection is dead: show it, reconnect, resume.
export function live(onEvent, onReset) {
  const status = document.getElementById("live");
  const set = (state, text) => {
    if (!status || status.dataset.state === state) return;
    status.dataset.state = state;
    status.textContent = text;
  };
  const lost = () => set("lost", "○ connection lost — reconnecting…");
  let source = null;
  let lastId = "";
  let retry = 1000;
  let every = 15; // seconds between keepalives; the server tells it in each one
  let heard = Date.now();
  let pending = null; // the timer of a scheduled reconnect
  const heardFrom = () => {
    heard = Date.now();
    set("ok", "● live");
  };
  // Close this connection and open another after the backoff delay.
  const reconnect = () => {
    source?.close();
    source = null;
    lost();
    clearTimeout(pending);
    pending = setTimeout(open, retry);
    retry = Math.min(retry * 2, 30000);
  };
  const open = () => {
    pending = null;
    heard = Date.now(); // the new connection gets the whole silence allowance
    const query = lastId ? `?last_event_id=${encodeURIComponent(lastId)}` : "";
    const current = new EventSource(`/api/v1/stream${query}`);
    source = current;
    current.onopen = () => {
      retry = 1000;
      heardFrom();
    };
    current.onerror = () => {
      if (current !== source) return;
      lost();
      // The server refused (restart, 503, signed out): back off, then try again.
      // Otherwise the browser is reconnecting by itself.
      if (current.readyState === EventSource.CLOSED) reconnect();
    };
    current.addEventListener("keepalive", (m) => {
      const said = Number(JSON.parse(m.data).every_s);
      if (said > 0) every = said;
      heardFrom();
    });
    current.addEventListener("reset", (m) => {
      heardFrom();
      lastId = m.lastEventId;
      refreshBanner();
      onReset?.();
    });
    for (const type of TYPES) {
      current.addEventListener(type, (m) => {
        heardFrom();
        lastId = m.lastEventId;
        const event = JSON.parse(m.data);
        if (type.startsWith("org.tracseq.alarm.")) refreshBanner();
        onEvent(type, event);
      });
    }
  };
  setInterval(() => {
    if (source && Date.now() - heard > 2.5 * every * 1000) reconnect();
  }, 1000);
  set("connecting", "connecting…");
  open();
}

// The alarm banner at the top of every page and the count beside "Alarms" in the menu:
// how many alarms are active and how many of them nobody acknowledged yet.
async function loadBanner() {
  const banner = document.getElementById("alarm-banner");
  const count = document.getElementById("nav-alarm-count");
  if (!banner || !me.name) return;
  let alarms;
  try {
    alarms = (await api("/api/v1/alarms?state=active&limit=10000")).alarms;
  } catch {
    return; // the page shows its own errors; the banner keeps its last state
  }
  const open = alarms.filter((a) => !a.acknowledged);
  const subjects = new Set(open.map((a) => a.subject ?? a.gateway));
  if (count) {
    count.hidden = alarms.length === 0;
    count.replaceChildren(String(alarms.length), h("span", { class: "visually-hidden" }, " active"));
    count.classList.toggle("all-acked", open.length === 0);
  }
  if (!alarms.length) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  const text = open.length
    ? `${open.length} active alarm${open.length === 1 ? "" : "s"} not acknowledged` +
      ` (${[...subjects].slice(0, 3).join(", ")}${subjects.size > 3 ? ", …" : ""})`
    : `${alarms.length} active alarm${alarms.length === 1 ? "" : "s"}, all acknowledged`;
  banner.className = `banner ${open.length ? "banner-alarm" : "banner-acked"}`;
  banner.replaceChildren(
    h("span", {}, text),
    location.pathname === "/alarms"
      ? h("a", { href: "#active-h" }, "Go to the list")
      : h("a", { href: "/alarms" }, open.length ? "Open the alarms" : "See alarms"),
  );
  banner.hidden = false;
}
export const refreshBanner = debounce(loadBanner, 250);
loadBanner();

// Header: sign out.
document.getElementById("sign-out")?.addEventListener("click", async () => {
  try {
    await api("/api/v1/session", { method: "DELETE" });
  } finally {
    location.assign("/login");
  }
});
