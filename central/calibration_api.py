"""Calibration records over HTTP (central/calibration.py).

    GET  /api/v1/sensors/{sensor}/calibrations         viewer: records with signatures
    POST /api/v1/sensors/{sensor}/calibrations         operator, signed: a new record (201)
    PUT  /api/v1/sensors/{sensor}/calibrations/{id}    operator, signed: replace a record
    GET  /api/v1/calibrations/{id}/certificate         viewer: the attached PDF

A record is JSON: `certificate, reference, performed_at, due_at` (RFC 3339),
`performed_by, points: [{nominal, as_found, as_left}], notes?`, optionally the certificate
as `certificate_pdf` (base64, a PDF of at most 5 MiB) and `certificate_name`, and the
`signature` (central/signatures.py; meaning usually `performed` or `verified`).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import access, calibration, signatures
from central.body import read_model
from central.schemas import MAX_PDF_BYTES, CalibrationRecord
from central.services import Services
from runtime.events import format_time

MAX_BODY = MAX_PDF_BYTES * 4 // 3 + 64 * 1024  # the base64 certificate and the record


def routes(services: Services) -> list[Route]:
    storage = services.storage

    async def listing(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        sensor = request.path_params["sensor"]

        def read(conn: Any, d: Any) -> list[dict[str, Any]]:
            rows = calibration.records(conn, d, sensor)
            signed = signatures.of_records(conn, d, "calibration", [str(r["id"]) for r in rows])
            for row in rows:
                row["signatures"] = [signatures.to_json(s) for s in signed.get(str(row["id"]), [])]
            return rows

        rows = await storage.run_read(read)
        due = float(rows[0]["due_at"]) if rows else None  # the newest record's
        for row in rows:
            for key in ("performed_at", "due_at", "created", "updated"):
                row[key] = format_time(row[key])
        return _json(
            {
                "sensor": sensor,
                "due_at": None if due is None else format_time(due),
                "overdue": due is not None and due <= services.clock(),
                "calibrations": rows,
            }
        )

    async def save(request: Request) -> Response:
        identity = await access.check(services, request, "operator")
        if isinstance(identity, Response):
            return identity
        data = await read_model(request, CalibrationRecord, MAX_BODY)
        sig = data.signature
        signer = await signatures.authenticate(services, request, identity, sig)
        if isinstance(signer, Response):
            return signer
        try:  # what the schema cannot say: dates in order, a real PDF
            data.times()
            data.pdf()
        except ValueError as exc:
            return access.error(400, str(exc))
        sensor = request.path_params["sensor"]
        cal_id = _id(request) if "cal_id" in request.path_params else None
        if cal_id == -1:
            return access.error(404, "no such calibration")
        actor = access.actor(identity.principal)
        now = services.clock()

        def store(conn: Any, d: Any) -> dict[str, Any] | None:
            with d.transaction(conn):
                saved = calibration.save(conn, d, now, actor, sensor, data, cal_id)
                if saved is None:
                    return None
                content = calibration.signed_content(conn, d, saved)
                signed = signatures.record(
                    conn, d, now, signer, sig, "calibration", str(saved), content
                )
            return {"id": saved, "sensor": sensor, "signature": signatures.to_json(signed)}

        result = await storage.run_write(store)
        if result is None:
            return access.error(404, f"no calibration {cal_id} of sensor {sensor!r}")
        await calibration.check(services)  # a past due date alarms at once
        return _json(result, 201 if cal_id is None else 200)

    async def certificate(request: Request) -> Response:
        identity = await access.check(services, request, "viewer")
        if isinstance(identity, Response):
            return identity
        cal_id = _id(request)
        found = await storage.run_read(lambda conn, d: calibration.attachment(conn, d, cal_id))
        if found is None:
            return access.error(404, f"calibration {cal_id} has no certificate")
        data, name = found
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100]
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
        )

    return [
        Route("/api/v1/sensors/{sensor}/calibrations", _either(listing, save),
              methods=["GET", "POST"]),
        Route("/api/v1/sensors/{sensor}/calibrations/{cal_id}", save, methods=["PUT"]),
        Route("/api/v1/calibrations/{cal_id}/certificate", certificate),
    ]  # fmt: skip


def _either(get: Any, post: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        return await (get if request.method == "GET" else post)(request)  # type: ignore[no-any-return]

    return endpoint


def _id(request: Request) -> int:
    """The path's calibration id (-1 when it is not a number: matches nothing)."""
    text = str(request.path_params["cal_id"])
    return int(text) if text.isdigit() and len(text) < 18 else -1


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
