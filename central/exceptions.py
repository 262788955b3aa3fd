"""How central answers an exception a route did not handle: registered once in the app.

    StorageUnavailable  -> 503 {"error": "database unavailable, retry later"} + Retry-After
    BodyError           -> its status (400, 413, 415) and message (central/body.py)
    anything else       -> 500, logged with its traceback: a bug is never "unavailable"

Route handlers therefore catch nothing "just in case": what they do not expect reaches
these handlers, and the log shows where it came from. The 500 is answered by `BugTrap`, a
middleware, rather than Starlette's `Exception` handler: that one re-raises to the server,
which logs the traceback a second time and drops the keep-alive connection.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.access import error as json_error
from central.body import BodyError
from central.storage import StorageUnavailable

log = logging.getLogger("tracseq.central")

RETRY_AFTER_DB = "5"


def unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    return json_error(503, "database unavailable, retry later", {"Retry-After": RETRY_AFTER_DB})


def bad_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyError)
    return json_error(exc.status, str(exc))


HANDLERS: dict[Any, Any] = {StorageUnavailable: unavailable, BodyError: bad_body}


class BugTrap:
    """Answer 500 for an exception no handler knows, logging it once with its traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:  # the one catch-all: a bug, answered 500 and logged
            log.error("%s %s failed: %r", scope["method"], scope["path"], exc, exc_info=exc)
            if started:  # a streamed response broke midway: the server ends the connection
                raise
            await json_error(500, "internal error (logged with its traceback)")(
                scope, receive, send
            )
