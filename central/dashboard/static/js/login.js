const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function target() {
  const next = new URLSearchParams(location.search).get("next") ?? "/";
  // Only paths on this service: never "//elsewhere" or "https://...".
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    error.textContent = "Enter your user name and password.";
    return;
  }
  const response = await fetch("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ username, password }),
  });
  if (response.ok) {
    location.assign(target());
    return;
  }
  const data = await response.json().catch(() => ({}));
  error.textContent = data.error ?? `Sign-in failed (${response.status}).`;
  form.password.select();
});
