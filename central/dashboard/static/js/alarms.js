// Alarms: active and past, with their acknowledgements. Operators and admins acknowledge
// with a comment (required); viewers see no form (and the API refuses them with 403).
import { api, canAck, debounce, fmtDuration, fmtTime, fmtValue, h, live, me, sensorHref, showError } from "./common.js";

const active = document.getElementById("active");
const past = document.getElementById("past");
let formSeq = 0;

function card(a) {
  const subject = a.subject ?? a.gateway ?? "?";
  const isGateway = a.rule === "gateway_offline";
  const acks = a.acks.length
    ? h("ul", { class: "acks" }, ...a.acks.map((k) =>
        h("li", {}, h("strong", { class: "ack-by" }, k.by), ackActor(k), ` at ${fmtTime(k.at)}: `, h("span", { class: "ack-comment" }, k.comment)),
      ))
    : h("p", { class: "muted unacked" }, "Not acknowledged.");
  const article = h("article", { class: `alarm ${a.state === "active" ? "is-active" : "is-past"}` },
    h("h3", {},
      isGateway ? h("span", { class: "alarm-subject" }, `gateway ${subject}`) : h("a", { class: "alarm-subject", href: sensorHref(subject) }, subject),
      " — ", a.rule,
    ),
    h("p", {},
      h("span", { class: `badge st-${a.state === "active" ? "alarm" : "normal"}` }, a.state),
      ` raised ${fmtTime(a.raised_at)}, ${a.state === "active" ? "for" : "lasted"} ${fmtDuration(a.duration_s)}`,
      a.value === null ? "" : `; value ${fmtValue(a.value)}`,
      a.threshold === null ? "" : `, limit ${fmtValue(a.threshold)}`,
    ),
    acks,
  );
  article.dataset.alarmId = a.alarm_id;
  if (canAck && (a.state === "active" || !a.acks.length)) article.append(ackForm(a));
  return article;
}

// Who really sent it (user:NAME or apikey:NAME), beside the name given as `by`: an API
// key may acknowledge on someone's behalf, and the page must not hide that.
export function ackActor(k) {
  return k.actor && k.actor !== `user:${k.by}` ? h("span", { class: "ack-actor muted" }, ` (sent by ${k.actor})`) : "";
}

function ackForm(a) {
  const n = ++formSeq;
  const comment = h("textarea", { id: `c${n}`, name: "comment", required: true, maxlength: 4000, rows: 2 });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "ack-form" },
    h("label", { for: `c${n}` }, `Comment (acknowledging as ${me.name})`),
    comment,
    error,
    h("button", { type: "submit" }, "Acknowledge"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!comment.value.trim()) {
      error.textContent = "A comment is required: say what you found or did.";
      comment.focus();
      return;
    }
    try {
      await api(`/api/v1/alarms/${encodeURIComponent(a.alarm_id)}/ack`, {
        method: "POST",
        body: { comment: comment.value },
      });
      await load();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return form;
}

async function load() {
  try {
    const data = await api("/api/v1/alarms?state=all&limit=500");
    const now = data.alarms.filter((a) => a.state === "active");
    const then = data.alarms.filter((a) => a.state !== "active");
    active.replaceChildren(...(now.length ? now.map(card) : [h("p", { class: "muted" }, "No active alarms.")]));
    past.replaceChildren(...(then.length ? then.map(card) : [h("p", { class: "muted" }, "No past alarms.")]));
  } catch (e) {
    showError(active, e);
  }
}

const reload = debounce(load, 300);
load();
live((type) => {
  if (type.startsWith("org.tracseq.alarm.")) reload();
}, reload);
