// Users and gateway tokens (admins only; the API checks the role again).
import { api, h, live, me, showError, signing } from "./common.js";
import { signatureFields } from "./sign.js";

const body = document.querySelector("#users tbody");
const msg = document.getElementById("users-msg");
const ROLES = ["viewer", "operator", "admin"];

async function load() {
  try {
    const data = await api("/api/v1/users");
    body.replaceChildren(...data.users.map(row));
  } catch (e) {
    showError(msg, e);
  }
}

function row(u) {
  const select = h("select", { "aria-label": `Role of ${u.name}` },
    ...ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
  const self = u.name === me.name;
  const save = h("button", { type: "button", disabled: self }, "Change role");
  save.addEventListener("click", () => {
    if (!signing) {
      change(u.name, { role: select.value }, `role of ${u.name} set to ${select.value}`);
      return;
    }
    // --require-signatures: a role change is signed (POST /api/v1/users/{name}/role)
    if (actions.querySelector("form.sign-role")) return;
    const sig = signatureFields("approved");
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "sign-role" }, sig.element, error,
      h("button", { type: "submit" }, `Sign and set role ${select.value}`));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const body = { role: select.value, signature: sig.value() };
        await api(`/api/v1/users/${encodeURIComponent(u.name)}/role`, { method: "POST", body });
        msg.textContent = `role of ${u.name} set to ${select.value} (signed)`;
        await load();
      } catch (e) {
        sig.reset();
        error.textContent = e.message;
      }
    });
    actions.append(form);
  });
  const toggle = h("button", { type: "button", disabled: self }, u.disabled ? "Enable" : "Disable");
  const email = h("input", { type: "email", value: u.email ?? "", "aria-label": `E-mail of ${u.name}` });
  const phone = h("input", { type: "tel", value: u.phone ?? "", "aria-label": `Phone of ${u.name}` });
  const contact = h("button", { type: "button" }, "Save contact");
  contact.addEventListener("click", () => change(u.name, { email: email.value.trim() || null, phone: phone.value.trim() || null }, `contact of ${u.name} saved`));
  toggle.addEventListener("click", () => change(u.name, { disabled: !u.disabled }, `${u.name} ${u.disabled ? "enabled" : "disabled"}`));
  const actions = h("td", { "data-label": "Actions" }, save, " ", toggle, " ", contact);
  return h("tr", {},
    h("th", { scope: "row" }, u.name),
    h("td", { "data-label": "Role" }, select),
    h("td", { "data-label": "E-mail" }, email),
    h("td", { "data-label": "Phone" }, phone),
    h("td", { "data-label": "State" }, u.disabled ? "disabled" : "active"),
    actions,
  );
}

async function change(name, body, done) {
  try {
    await api(`/api/v1/users/${encodeURIComponent(name)}`, { method: "PATCH", body });
    msg.textContent = done;
    await load();
  } catch (e) {
    msg.textContent = e.message;
  }
}

document.getElementById("new-user").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const name = document.getElementById("nu-name").value.trim();
  try {
    await api("/api/v1/users", {
      method: "POST",
      body: {
        name,
        role: document.getElementById("nu-role").value,
        password: document.getElementById("nu-password").value,
        email: document.getElementById("nu-email").value.trim() || null,
        phone: document.getElementById("nu-phone").value.trim() || null,
      },
    });
    msg.textContent = `user ${name} added`;
    form.reset();
    await load();
  } catch (e) {
    msg.textContent = e.message;
  }
});

document.getElementById("new-token").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = document.getElementById("token-out");
  try {
    const r = await api("/api/v1/tokens", {
      method: "POST",
      body: { gateway: document.getElementById("nt-gateway").value.trim(), analytics: document.getElementById("nt-analytics").checked },
    });
    out.replaceChildren(`Token for ${r.source} (shown once, put it in the gateway's sync.token_file): `, h("code", {}, r.token));
  } catch (e) {
    out.textContent = e.message;
  }
});

load();
// The stream carries no user changes; it is opened for the connection indicator (the
// header would say "connecting…" forever otherwise) and the alarm banner.
live(() => {}, load);
