"""The dashboard's pages: a shell per page, signed-in users only (else the login page).

Only three values are put into the HTML by the server (user name, role, CSRF token), all
escaped; everything else is fetched by the page's script and inserted as text. Pages are
sent with a strict Content-Security-Policy (scripts and styles from this service only, no
inline script), so even a stored injection could not run.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from central import access
from central.auth import role_allows
from central.services import Services
from central.storage import StorageUnavailable

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# path, template/script name, title, least role
PAGES = (
    ("/", "fleet", "Fleet", "viewer"),
    ("/sensor", "sensor", "Sensor", "viewer"),
    ("/alarms", "alarms", "Alarms", "viewer"),
    ("/audit", "audit", "Audit trail", "viewer"),
    ("/notifications", "notifications", "Notifications", "viewer"),
    ("/report", "report", "Excursion report", "viewer"),
    ("/users", "users", "Users and tokens", "admin"),
)
NAV = (
    ("/", "Fleet"),
    ("/alarms", "Alarms"),
    ("/notifications", "Notifications"),
    ("/report", "Reports"),
    ("/audit", "Audit trail"),
)


def page_routes(services: Services) -> list[Route]:
    def page(name: str, title: str, role: str) -> object:
        async def endpoint(request: Request) -> Response:
            try:
                identity = await access.identify(services, request)
            except StorageUnavailable:  # a page, not JSON: the app's 503 handler answers JSON
                return HTMLResponse(
                    _error_page("The database is unavailable; retry later."), 503, HEADERS
                )
            if identity is None or identity.principal.kind != "user":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            principal = identity.principal
            if not role_allows(principal.role, role):
                return HTMLResponse(_error_page(f"This page needs role {role}."), 403, HEADERS)
            return HTMLResponse(
                _shell(
                    name,
                    title,
                    principal.name,
                    principal.role or "",
                    identity.csrf_token,
                    signing=services.settings.require_signatures,
                ),
                headers=HEADERS,
            )

        return endpoint

    async def login(request: Request) -> Response:
        return HTMLResponse(_shell("login", "Sign in", None, "", None), headers=HEADERS)

    async def favicon(request: Request) -> Response:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    return [
        Route("/login", login),
        Route("/favicon.ico", favicon),
        *(Route(path, page(name, title, role)) for path, name, title, role in PAGES),  # type: ignore[arg-type]
    ]


def _shell(
    name: str, title: str, user: str | None, role: str, csrf: str | None, *, signing: bool = False
) -> str:
    body = (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
    e = html.escape
    nav = ""
    if user is not None:
        links = list(NAV) + ([("/users", "Users")] if role == "admin" else [])
        items = "".join(
            f'<li><a href="{href}"{_current(href, name)}>{e(text)}'
            + (
                '<span id="nav-alarm-count" class="nav-count" hidden></span>'
                if href == "/alarms"
                else ""
            )
            + "</a></li>"
            for href, text in links
        )
        nav = f"""<header class="top">
  <a class="brand" href="/">TracSeq Edge</a>
  <nav aria-label="Main"><ul>{items}</ul></nav>
  <p id="live" class="live" role="status" aria-live="polite">connecting…</p>
  <p class="who"><span id="me">{e(user)}</span> <span class="role">({e(role)})</span>
    <button type="button" id="sign-out" class="link">Sign out</button></p>
</header>
<div id="alarm-banner" class="banner" role="region" aria-label="Active alarms" hidden></div>
<p id="announce" class="visually-hidden" role="status" aria-live="polite"></p>"""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{e(csrf or "")}">
<meta name="user" content="{e(user or "")}">
<meta name="role" content="{e(role)}">
<meta name="require-signatures" content="{"1" if signing else "0"}">
<title>{e(title)} · TracSeq Edge</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
<link rel="stylesheet" href="/static/app.css">
</head>
<body data-page="{e(name)}">
<a class="skip" href="#main">Skip to content</a>
{nav}
<main id="main" tabindex="-1">
{body}
</main>
<script type="module" src="/static/js/{e(name)}.js"></script>
</body>
</html>
"""


def _current(href: str, page: str) -> str:
    """aria-current on the menu link of the page shown."""
    own = {path: name for path, name, _, _ in PAGES}
    return ' aria-current="page"' if own.get(href) == page else ""


def _error_page(message: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>TracSeq Edge</title>'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/app.css"></head><body><main id="main">'
        f"<h1>TracSeq Edge</h1><p>{html.escape(message)}</p>"
        '<p><a href="/">Back to the fleet</a></p></main></body></html>'
    )
