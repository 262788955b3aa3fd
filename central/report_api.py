"""Excursion reports over HTTP (central/report_data.py), and their signed approval.

    GET  /api/v1/reports/sensors/{sensor}?from=&to=[&format=csv|pdf]   viewer
    GET  /api/v1/reports/sites/{site}?from=&to=[&format=pdf]           viewer
    POST /api/v1/reports/approvals                                     operator, signed
         {"kind": "sensor"|"site", "subject", "from", "to", "content_sha256", "signature"}

Every PDF handed out is recorded in the audit trail (`report.pdf`, with the document's
SHA-256 and the report's content SHA-256; also in the `X-Document-SHA256` header), so a
printed report can be traced to the figures it showed. An approval signs the report's
content SHA-256 as the signer saw it: when the figures changed since (late data), it is
refused with 409 and the current hash, so nobody approves figures they did not see.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access, report_data, report_pdf, signatures
from central.body import read_model
from central.queries import BadQuery, _window
from central.report_csv import report_csv
from central.schemas import ReportApproval
from central.services import Services
from central.storage import read
from runtime.events import parse_time


def routes(services: Services) -> list[Route]:
    storage = services.storage

    async def build(kind: str, subject: str, start: float, end: float) -> dict[str, Any] | None:
        now = services.clock()
        if kind == "sensor":
            return await storage.run_read(
                lambda c, d: report_data.sensor_report(c, d, subject, start, end, now)
            )
        return await storage.run_read(
            lambda c, d: report_data.site_report(c, d, subject, start, end, now)
        )

    def report(kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            identity = await access.check(services, request, "viewer")
            if isinstance(identity, Response):
                return identity
            subject = request.path_params[kind]
            form = request.query_params.get("format", "json")
            if form not in ("json", "csv", "pdf") or (kind == "site" and form == "csv"):
                allowed = "json, csv or pdf" if kind == "sensor" else "json or pdf"
                return access.error(400, f"format: {allowed}, got {form!r}")
            try:
                start, end = _window(request)
            except BadQuery as exc:
                return access.error(400, str(exc))
            body = await build(kind, subject, start, end)
            if body is None:
                return access.error(404, f"no {kind} {subject!r}")
            if form == "csv":
                step = max(60.0, (end - start) / 1000)
                buckets = await storage.run_read(
                    lambda c, d: read.buckets(c, d, subject, start, end, step)
                )
                return report_csv(body, buckets)
            if form == "pdf":
                return await _pdf(body, access.actor(identity.principal))
            return _json(body)

        return endpoint

    async def _pdf(body: dict[str, Any], actor: str) -> Response:
        document = await asyncio.to_thread(report_pdf.render, body)
        digest = hashlib.sha256(document).hexdigest()
        await storage.audit(
            actor,
            "report.pdf",
            body["record"],
            None,
            {"sha256": digest, "bytes": len(document), "content_sha256": body["content_sha256"]},
        )
        subject = body.get("sensor") or body["site"]
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in subject)[:80]
        return Response(
            document,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="report-{name or "report"}.pdf"',
                "X-Document-SHA256": digest,
            },
        )

    async def approve(request: Request) -> Response:
        identity = await access.check(services, request, "operator")
        if isinstance(identity, Response):
            return identity
        body = await read_model(request, ReportApproval)
        kind, subject, seen, sig = body.kind, body.subject, body.content_sha256, body.signature
        signer = await signatures.authenticate(services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        try:
            start, end = parse_time(body.from_), parse_time(body.to)
        except ValueError:
            return access.error(400, "from, to: RFC 3339 times of the report's period")
        if start >= end:
            return access.error(400, "from: must be before to")
        now = services.clock()
        key = report_data.report_key(kind, subject, start, end)
        # Computed on a reader, not inside the write transaction: on SQLite that would hold
        # the one writer (and ingest) for as long as a site report takes.
        current = await build(kind, subject, start, end)
        if current is None:
            return access.error(404, f"no {kind} {subject!r}")
        if current["content_sha256"] != seen:
            return _json(
                {
                    "error": "the report changed since you opened it; reload it and review it "
                    "again",
                    "content_sha256": current["content_sha256"],
                },
                409,
            )
        content = {
            "kind": kind,
            "subject": subject,
            "from": current["from"],
            "to": current["to"],
            "content_sha256": seen,
        }

        def store(conn: Any, d: Any) -> dict[str, Any]:
            with d.transaction(conn):
                signed = signatures.record(conn, d, now, signer, sig, "report", key, content)
            return {"record": key, "signature": signatures.to_json(signed)}

        return _json(await storage.run_write(store))

    return [
        Route("/api/v1/reports/sensors/{sensor}", report("sensor")),
        Route("/api/v1/reports/sites/{site}", report("site")),
        Route("/api/v1/reports/approvals", approve, methods=["POST"]),
    ]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
