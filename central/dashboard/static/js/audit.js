// Audit trail: newest first, with the server's hash-chain check shown prominently.
import { api, fmtTime, h, live, showError } from "./common.js";

const chain = document.getElementById("chain");
const body = document.querySelector("#audit tbody");

async function load() {
  try {
    const data = await api("/api/v1/audit?limit=1000");
    const c = data.chain;
    if (c.ok) {
      chain.className = "chain ok";
      chain.replaceChildren(
        h("strong", {}, "Chain intact."),
        ` ${c.rows} rows, each linked to the one before. Newest hash: `,
        h("code", { class: "hash" }, c.head),
      );
    } else {
      chain.className = "chain broken";
      chain.setAttribute("role", "alert");
      chain.replaceChildren(
        h("strong", {}, `Tampering detected: ${c.problems.length} row(s) do not check out.`),
        h("ul", {}, ...c.problems.map((p) => h("li", {}, `row ${p.id}: ${p.problem}`))),
      );
    }
    body.replaceChildren(...data.entries.map((e) => {
      const row = h("tr", { class: e.problem ? "tampered" : "" },
        h("td", { "data-label": "#" }, e.id),
        h("td", { "data-label": "When" }, h("time", { datetime: e.at }, fmtTime(e.at))),
        h("td", { "data-label": "Who" }, e.actor),
        h("td", { "data-label": "What" }, e.action),
        h("td", { "data-label": "Target" }, e.target ?? ""),
        h("td", { class: "json", "data-label": "Old" }, e.old_value ?? ""),
        h("td", { class: "json", "data-label": "New" }, e.new_value ?? ""),
        h("td", { "data-label": "Check" }, e.problem ? h("span", { class: "badge st-alarm" }, e.problem) : h("span", { class: "badge st-normal" }, "ok")),
      );
      return row;
    }));
  } catch (e) {
    showError(chain, e);
  }
}

load();
// The stream carries no audit rows; it is opened for the connection indicator and resets.
live(() => {}, load);
