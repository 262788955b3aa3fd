"""Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.100, §11.200; EU GMP Annex 11 §14).

A signature is made by a signed-in person (never an API key), who re-enters their password
and picks a *meaning* and a *reason*. Its record holds the printed name (the user name),
the time in UTC and in the site's zone (central's local time zone: `TZ` or /etc/localtime),
the meaning, the reason and the SHA-256 of the signed content (canonical JSON of the record
as signed). It is written in the same transaction as the record it signs and as an audit
row carrying the same hash, so the chained audit trail fixes what was signed: changing the
record, the signature row or copying it to another record is found by `verify`.

Continuous signing session (§11.200(a)(1)): the first signing in a session needs both
components, user name and password; later signings in the same session need the password
only. The session ends when the person signs out or it expires (12 h); then the next
signing needs both again. A wrong password is refused (403: the session itself stays
valid), written to the audit trail as `signature.failed` and counted by the login rate
limiter (central/ratelimit.py), so guessing through the signing form is as limited as
through the login form.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from starlette.requests import Request
from starlette.responses import Response

from central import access
from central.passwords import verify_password
from central.schemas import MEANINGS, SignatureInput
from central.storage.people import append_audit

if TYPE_CHECKING:
    from central.access import Identity
    from central.services import Services

__all__ = ["MEANINGS", "RECORD_TYPES", "SignatureInput", "Signer"]

RECORD_TYPES = ("alarm_ack", "report", "user_role", "calibration")


@dataclass(frozen=True, slots=True)
class Signer:
    name: str
    role: str
    session_hash: str


def canonical(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def sha256(content: Any) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def site_zone() -> str:
    """The IANA name of central's local time zone (the site's), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    link = Path("/etc/localtime")
    if link.is_symlink():
        candidates.append(str(link.resolve()).partition("zoneinfo/")[2])
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return "UTC"


def local_time(at: float, zone: str) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(zone)).isoformat(timespec="seconds")


async def authenticate(
    services: Services, request: Request, identity: Identity, sig: SignatureInput
) -> Signer | Response:
    """The signer, after checking both signature components; else the error response."""
    principal = identity.principal
    if principal.kind != "user" or identity.session_hash is None:
        return access.error(403, "API keys cannot sign: a person signs in on the dashboard")
    name = principal.name
    remote = request.client.host if request.client else "unknown"
    limiter = services.limiter
    wait = limiter.attempt(name, remote)  # counted before the check, as sign-in does
    if wait:
        return access.error(
            429, f"too many failed attempts; retry in {wait} s", {"Retry-After": str(wait)}
        )
    storage = services.storage
    session_hash = identity.session_hash
    continuing = await storage.run_read(
        lambda conn, d: d.one(
            conn, "SELECT 1 FROM signing_sessions WHERE session_hash = ?", (session_hash,)
        )
    )
    if continuing is None and not sig.username:
        return access.error(
            403,
            "signature.username: the first signing in a session needs your user name and "
            "password (21 CFR 11.200)",
        )
    found = await storage.credentials(name)
    ok = await verify_password(found[1] if found else None, sig.password)
    if sig.username is not None and sig.username != name:
        ok = False
    if not ok or found is None:
        await storage.audit(f"user:{name}", "signature.failed", name, None, {"remote": remote})
        # 403, not 401: the session is fine (a 401 would send the dashboard to sign-in)
        return access.error(403, "wrong user name or password: not signed")
    limiter.succeeded(name, remote)
    return Signer(name, found[0], session_hash)


def record(
    conn: Any,
    d: Any,
    now: float,
    signer: Signer,
    sig: SignatureInput,
    record_type: str,
    record_id: str,
    content: Any,
) -> dict[str, Any]:
    """Store the signature and its audit row (inside the caller's transaction)."""
    zone = site_zone()
    digest = sha256(content)
    shown = {
        "record_type": record_type,
        "record_id": record_id,
        "signer": signer.name,
        "meaning": sig.meaning,
        "reason": sig.reason,
        "zone": zone,
        "local_time": local_time(now, zone),
        "content_sha256": digest,
    }
    audit_id = append_audit(
        conn, d, now, f"user:{signer.name}", f"signature.{record_type}", record_id, None, shown
    )
    d.execute(
        conn,
        """INSERT INTO signatures (record_type, record_id, signer, role, meaning, reason,
            signed_at, zone, local_time, content, content_sha256, audit_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            record_type, record_id, signer.name, signer.role, sig.meaning, sig.reason, now,
            zone, shown["local_time"], canonical(content).decode(), digest, audit_id,
        ),
    )  # fmt: skip
    updated = d.execute(
        conn,
        "UPDATE signing_sessions SET last_at = ? WHERE session_hash = ?",
        (now, signer.session_hash),
    )
    if not updated.rowcount:
        d.execute(
            conn,
            """INSERT INTO signing_sessions (session_hash, username, first_at, last_at)
            VALUES (?, ?, ?, ?)""",
            (signer.session_hash, signer.name, now, now),
        )
    return {**shown, "signed_at": now, "audit_id": audit_id}


_COLUMNS = """id, record_type, record_id, signer, role, meaning, reason, signed_at, zone,
    local_time, content_sha256, audit_id"""
_NAMES = (
    "id", "record_type", "record_id", "signer", "role", "meaning", "reason", "signed_at",
    "zone", "local_time", "content_sha256", "audit_id",
)  # fmt: skip


def of_records(conn: Any, d: Any, record_type: str, ids: list[str]) -> dict[str, list[Any]]:
    """Signatures of the given records, oldest first, by record id."""
    out: dict[str, list[Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        among, params = d.one_of("record_id", chunk)
        rows = d.all(
            conn,
            f"""SELECT {_COLUMNS} FROM signatures WHERE record_type = ?
            AND {among} ORDER BY id""",
            [record_type, *params],
        )
        for row in rows:
            item = dict(zip(_NAMES, row, strict=True))
            out.setdefault(str(item["record_id"]), []).append(item)
    return out


def current_content(conn: Any, d: Any, record_type: str, record_id: str) -> Any | None:
    """The content a record would be signed with now (None: not re-derivable)."""
    if record_type == "alarm_ack":
        row = d.one(
            conn,
            "SELECT alarm_id, ack_by, comment, at FROM alarm_acks WHERE id = ?",
            (int(record_id),),
        )
        return None if row is None else ack_content(int(record_id), *row)
    if record_type == "calibration":
        from central.calibration import signed_content

        return signed_content(conn, d, int(record_id))
    return None


def ack_content(ack_id: int, alarm_id: str, by: str, comment: str, at: float) -> dict[str, Any]:
    return {"ack_id": ack_id, "alarm_id": alarm_id, "by": by, "comment": comment, "at": at}


def verify(conn: Any, d: Any) -> dict[str, Any]:
    """Check every signature against its audit row and (the newest of each record) against
    the record as it is now. Problems name the signature and what no longer matches."""
    rows = d.all(conn, f"SELECT {_COLUMNS}, content FROM signatures ORDER BY id")
    problems: list[dict[str, Any]] = []
    newest: dict[tuple[str, str], int] = {}
    for row in rows:
        newest[(str(row[1]), str(row[2]))] = int(row[0])
    for row in rows:
        item = dict(zip(_NAMES, row[:-1], strict=True))
        content_text = str(row[-1])
        found: list[str] = []
        if hashlib.sha256(content_text.encode()).hexdigest() != item["content_sha256"]:
            found.append("the stored content does not match its hash")
        audit = d.one(
            conn,
            "SELECT action, target, new_value FROM audit WHERE id = ?",
            (item["audit_id"],),
        )
        if audit is None:
            found.append("its audit row is missing")
        else:
            new = orjson.loads(audit[2]) if audit[2] else {}
            expected = {
                k: item[k]
                for k in (
                    "record_type",
                    "record_id",
                    "signer",
                    "meaning",
                    "reason",
                    "content_sha256",
                )
            }
            if audit[0] != f"signature.{item['record_type']}" or audit[1] != item["record_id"]:
                found.append("its audit row is for another record")
            elif any(new.get(k) != v for k, v in expected.items()):
                found.append("it differs from its audit row (signature edited)")
        key = (str(item["record_type"]), str(item["record_id"]))
        if newest[key] == item["id"]:
            now = current_content(conn, d, *key)
            if now is not None and sha256(now) != item["content_sha256"]:
                found.append("the signed record was changed after signing")
        if found:
            problems.append(
                {
                    "signature_id": item["id"],
                    "record_type": item["record_type"],
                    "record_id": item["record_id"],
                    "problem": "; ".join(found),
                }
            )
    return {"ok": not problems, "checked": len(rows), "problems": problems}


def to_json(item: dict[str, Any]) -> dict[str, Any]:
    """A signature as the API shows it (UTC time as RFC 3339)."""
    out = dict(item)
    if isinstance(out.get("signed_at"), int | float):
        out["signed_at"] = (
            datetime.fromtimestamp(out["signed_at"], UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
    return out
