// Notifications: pending escalations, the delivery log (failures in red) and, for admins,
// a test message through any configured channel.
import { api, debounce, fmtTime, h, live, me, showError } from "./common.js";

const summary = document.getElementById("summary");
const pendingBody = document.querySelector("#pending tbody");
const logBody = document.querySelector("#log tbody");

const alarmsCell = (ids) =>
  h("td", {}, ...ids.flatMap((id, i) => [i ? ", " : "", h("a", { href: `/alarms?ack=${encodeURIComponent(id)}` }, id)]));
const toCell = (to) => h("td", {}, to.length ? to.join(", ") : "—");
const time = (iso) => (iso ? h("time", { datetime: iso }, fmtTime(iso)) : "—");
const stateBadge = (state) => {
  const cls = { sent: "st-normal", failed: "st-alarm", pending: "st-warning", cancelled: "st-stale" }[state] ?? "";
  return h("span", { class: `badge ${cls}` }, state);
};

async function load() {
  try {
    const data = await api("/api/v1/notifications?limit=500");
    const rows = data.notifications;
    const pending = rows.filter((r) => r.state === "pending" || (r.state === "failed" && r.due_at));
    const failed = rows.filter((r) => r.state === "failed");
    summary.replaceChildren(
      `${pending.length} pending, `,
      failed.length ? h("strong", { class: "error-inline" }, `${failed.length} failed`) : "0 failed",
      ` of the last ${rows.length} notifications.`,
    );
    pendingBody.replaceChildren(...pending.map((r) => h("tr", { class: r.error ? "failed" : "" },
      h("td", {}, r.id),
      h("td", {}, time(r.due_at)),
      h("td", {}, r.policy),
      h("td", {}, r.level + 1),
      h("td", {}, r.event),
      h("td", {}, r.channel),
      toCell(r.to),
      alarmsCell(r.alarm_ids),
      h("td", {}, r.error ?? ""),
    )));
    logBody.replaceChildren(...rows.map((r) => h("tr", { class: r.state === "failed" ? "failed" : "" },
      h("td", {}, r.id),
      h("td", {}, time(r.created_at)),
      h("td", {}, r.policy),
      h("td", {}, r.level + 1),
      h("td", {}, r.event),
      h("td", {}, r.channel),
      toCell(r.to),
      alarmsCell(r.alarm_ids),
      h("td", {}, stateBadge(r.state)),
      h("td", {}, r.attempts),
      h("td", {}, time(r.sent_at)),
      h("td", {}, r.error ?? ""),
    )));
  } catch (e) {
    showError(summary, e);
  }
}

if (me.role === "admin") {
  document.getElementById("test-section").hidden = false;
  document.getElementById("test-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("test-out");
    const to = document.getElementById("t-to").value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      const r = await api("/api/v1/notifications/test", {
        method: "POST",
        body: { channel: document.getElementById("t-channel").value.trim(), to },
      });
      out.textContent = `test message ${r.id}: ${r.state}`;
    } catch (e) {
      out.textContent = `not sent: ${e.message}`;
    }
    await load();
  });
}

const reload = debounce(load, 300);
load();
// Sends happen without a stream event: look again every few seconds; alarm events change
// what is pending, so they reload too (as does a stream reset).
setInterval(load, 5000);
live((type) => {
  if (type.startsWith("org.tracseq.alarm.")) reload();
}, reload);
