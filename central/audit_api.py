"""`GET /api/v1/audit`: the audit trail with its chain check, as JSON or CSV.

JSON: `{"chain": {"ok", "rows", "head", "problems": [{"id", "problem"}]}, "signatures":
{"ok", "checked", "problems"}, "entries": [...]}`
with the newest `limit` entries first, each with `problem` (null when its row checks out).
`?format=csv`: every row, oldest first, with the same `problem` column. Without
`--audit-key` the chain is verified over the whole trail on every read; with it, from the
newest signed checkpoint on (central/trail.py: a trail that shrank or was re-chained since
is reported in `chain.problems`, `chain.checkpoint` names the checkpoint), plus the rows
shown; the CSV export always verifies the whole trail.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from central import access, signatures
from central.audit import AuditEntry, check_rows, to_csv, verify
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
        trail = services.trail
        rows: list[AuditEntry] = []
        newest: list[AuditEntry] = []
        if trail is None:  # no key: no checkpoint to trust, the whole chain is checked
            rows = await services.storage.audit_rows()
            verdict = verify(rows)
            chain = verdict.to_dict() | {"checkpoint": None, "verified_from": 1}
            problems = verdict.problems
            newest = rows[::-1][: int(text)]
        elif form == "csv":
            rows = await services.storage.audit_rows()
            result = await trail.verify(full=True)
            chain, problems = result.to_dict(), result.problems
        else:  # incremental from the newest valid checkpoint, plus the rows shown
            result = await trail.verify()
            newest = await services.storage.audit_newest(int(text))
            chain, problems = result.to_dict(), check_rows(newest) | result.problems
        if form == "csv":
            return StreamingResponse(
                to_csv(rows, problems),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        # signed records still match what was signed (central/signatures.py)
        signed = await services.storage.run_read(signatures.verify)
        body = {
            "chain": chain,
            "signatures": signed,
            "entries": [e.to_dict(problems.get(e.id)) for e in newest],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return [Route("/api/v1/audit", audit)]
