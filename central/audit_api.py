"""`GET /api/v1/audit`: the audit trail with its chain check, as JSON or CSV.

JSON: `{"chain": {"ok", "rows", "head", "problems": [{"id", "problem"}]}, "signatures":
{"ok", "checked", "problems"}, "entries": [...]}`
with the newest `limit` entries first, each with `problem` (null when its row checks out).
`?format=csv`: every row, oldest first, with the same `problem` column. The chain is always
verified over the whole trail, so a tampered row is reported even when it is not shown.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from central import access, signatures
from central.audit import to_csv, verify
from central.services import Services

log = logging.getLogger("tracseq.central.audit")


def routes(services: Services) -> list[Route]:
    async def audit(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        text = request.query_params.get("limit", "500")
        if not text.isdigit() or not 1 <= int(text) <= 100_000:
            return access.error(400, "limit: must be an integer from 1 to 100000")
        form = request.query_params.get("format", "json")
        if form not in ("json", "csv"):
            return access.error(400, f"format: json or csv, got {form!r}")
        rows = await services.storage.audit_rows()
        verdict = verify(rows)
        if form == "csv":
            return StreamingResponse(
                to_csv(rows, verdict.problems),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        newest = rows[::-1][: int(text)]
        # signed records still match what was signed (central/signatures.py)
        signed = await services.storage.run_read(signatures.verify)
        body = {
            "chain": verdict.to_dict(),
            "signatures": signed,
            "entries": [e.to_dict(verdict.problems.get(e.id)) for e in newest],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return [Route("/api/v1/audit", audit)]
