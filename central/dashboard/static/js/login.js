const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

// Where to go after signing in: `next` only when it is a path on this origin, else "/".
// A URL parser drops tabs and newlines and reads a backslash as "/", so "/\t/evil.example/"
// (next=/%09/evil.example/) is "//evil.example/" to the browser: a prefix check on the
// text is not enough. `next` is resolved against this page and must stay on its origin.
function target() {
  const next = new URLSearchParams(location.search).get("next") ?? "/";
  if (!next.startsWith("/") || /[\u0000-\u001f\u007f\\]/.test(next)) return "/";
  let url;
  try {
    url = new URL(next, location.href);
  } catch {
    return "/";
  }
  const path = url.pathname + url.search + url.hash;
  return url.origin === location.origin && !path.startsWith("//") ? path : "/";
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
