"""Tamper evidence for the audit trail beyond its hash chain: signed checkpoints.

Whoever can write the database can delete the newest rows, edit a row and re-hash it, or
re-chain the whole trail: the chain alone still verifies. So central (`--audit-key FILE`,
central/signing.py) verifies the trail every `--audit-checkpoint-every` (10 min) and, when
it checks out, signs a checkpoint `{rows, head}` -- the row count and the newest row's hash
-- with a key the database never sees, stores it in `audit_checkpoints` and logs it
(`audit checkpoint #N rows=... head=... signature=...`: a copy outside the database).

`verify_trail` then starts from the newest checkpoint whose signature verifies: the row it
names must still be there with the same hash (else the trail shrank or was re-chained),
and only the rows after it are recomputed (incremental; `full=True` recomputes all). A
checkpoint whose signature does not verify is reported, and so is a checkpoint this very
process wrote that has gone from the table. A failed verification raises the central
alarm `audit_tampered` (alarms table, live stream), which is notified like any alarm, and
no new checkpoint is signed over a trail that does not check out.

Limit: someone who deletes rows *and* every checkpoint after them (around the triggers)
while central is stopped is seen only against the logged checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from central import signing
from central.audit import AuditEntry, Verdict, check_rows, verify
from central.storage import SqlStorage, StorageUnavailable, checkpoints
from central.storage.checkpoints import TAMPERED_RULE, CheckpointRow
from central.storage.dialect import Dialect
from central.stream import Hub
from runtime.backoff import RetryLog
from runtime.events import ALARM_RAISED, CloudEvent, format_time

log = logging.getLogger("tracseq.central.audit")

CHECKPOINT_EVERY = 600.0  # default of `tracseq-edge central --audit-checkpoint-every`
_LOOK_BACK = 50  # checkpoints read to find the newest one that verifies


def payload(rows: int, head: str, at: float) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return orjson.dumps({"at": at, "head": head, "rows": rows, "v": 1}, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The trail's verification: row problems and trail problems (keyed by row id), the
    checkpoint it started from, the first row whose chain was recomputed, and which of the
    problems only the checkpoints reveal (`checkpoint_problems`: forged, deleted or
    contradicted checkpoints, a trail that shrank or was re-chained)."""

    verdict: Verdict
    checkpoint: CheckpointRow | None
    first: int
    checkpoint_problems: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def problems(self) -> dict[int, str]:
        return self.verdict.problems

    def to_dict(self) -> dict[str, Any]:
        out = self.verdict.to_dict()
        cp = self.checkpoint
        out["checkpoint"] = (
            None
            if cp is None
            else {"id": cp.id, "at": format_time(cp.at), "rows": cp.rows, "head": cp.head}
        )
        out["verified_from"] = self.first
        return out


async def verify_trail(
    storage: SqlStorage,
    key: bytes | None,
    *,
    full: bool = False,
    written: CheckpointRow | None = None,
) -> VerifyResult:
    """Verify the audit trail against its newest valid checkpoint (see the module doc), in
    one call on the storage's reader connection (`check_trail`)."""
    return await storage.audit_check(partial(check_trail, key=key, full=full, written=written))


def check_trail(
    conn: Any,
    d: Dialect,
    key: bytes | None,
    *,
    full: bool = False,
    written: CheckpointRow | None = None,
) -> VerifyResult:
    """`verify_trail` on a plain connection (also `central verify --audit-key`,
    central/records/verify.py).

    `key` None: no checkpoint can be trusted, the whole chain is recomputed. `written`: the
    newest checkpoint this process signed, which must still be in the table."""
    problems: dict[int, str] = {}
    anchor = _newest_valid(conn, d, key, problems) if key is not None else None
    trusted = anchor is not None and not full  # start from it, or recompute everything
    if written is not None:
        stored = checkpoints.checkpoint(conn, d, written.id)
        if stored is None or stored.signature != written.signature:
            _add(problems, written.rows, f"checkpoint #{written.id} ({written.rows} rows) that "
                 "this central signed is gone from audit_checkpoints (deleted)")  # fmt: skip
            trusted = False
    last_id, _ = checkpoints.head(conn, d)
    if anchor is not None and last_id < anchor.rows:
        _add(problems, last_id + 1, f"the trail shrank: {anchor.rows} rows at checkpoint "
             f"#{anchor.id} ({format_time(anchor.at)}), {last_id} now")  # fmt: skip
        trusted = False
    if anchor is None or anchor.rows == 0 or not trusted:
        rows = checkpoints.audit_from(conn, d, 1)
        verdict = verify(rows)
        start = 1
        if anchor is not None and anchor.rows > 0 and last_id >= anchor.rows:
            _check_anchor(anchor, _row(rows, anchor.rows), problems)
    else:
        rows = checkpoints.audit_from(conn, d, anchor.rows)
        _check_anchor(anchor, _row(rows, anchor.rows), problems)
        start = anchor.rows + 1
        verdict = verify([e for e in rows if e.id >= start], first=start, prev=anchor.head)
    only_checkpoints = dict(problems)
    for id_, text in verdict.problems.items():
        _add(problems, id_, text)
    return VerifyResult(
        Verdict(verdict.rows, problems, verdict.head), anchor, start, only_checkpoints
    )


def _newest_valid(
    conn: Any, d: Dialect, key: bytes, problems: dict[int, str]
) -> CheckpointRow | None:
    for cp in checkpoints.checkpoints(conn, d, _LOOK_BACK):
        if signing.verify(key, payload(cp.rows, cp.head, cp.at), cp.signature):
            return cp
        _add(problems, cp.rows, f"checkpoint #{cp.id}: its signature does not verify (forged, "
             "or signed with another key)")  # fmt: skip
    return None


def _check_anchor(anchor: CheckpointRow, row: AuditEntry | None, problems: dict[int, str]) -> None:
    where = f"checkpoint #{anchor.id} ({format_time(anchor.at)})"
    if row is None:
        _add(problems, anchor.rows, f"row {anchor.rows}, the head of {where}, is missing")
    elif row.hash != anchor.head:
        _add(problems, anchor.rows, f"row {anchor.rows} no longer has the hash {where} "
             "signed: edited or re-chained since")  # fmt: skip
    else:
        for id_, text in check_rows([row]).items():
            _add(problems, id_, text)


def _row(rows: list[AuditEntry], id_: int) -> AuditEntry | None:
    return next((e for e in rows if e.id == id_), None)


def _add(problems: dict[int, str], id_: int, text: str) -> None:
    problems[id_] = f"{problems[id_]}; {text}" if id_ in problems else text


class Trail:
    """Signs checkpoints periodically and raises `audit_tampered` when verification fails."""

    def __init__(
        self, storage: SqlStorage, key: bytes, hub: Hub, clock: Callable[[], float]
    ) -> None:
        self._storage = storage
        self._key = key
        self._hub = hub
        self._clock = clock
        self.written: CheckpointRow | None = None
        self._reported: dict[int, str] = {}
        self._retry = RetryLog(log, "checkpointing the audit trail")

    async def verify(self, *, full: bool = False) -> VerifyResult:
        return await verify_trail(self._storage, self._key, full=full, written=self.written)

    async def checkpoint(self) -> VerifyResult:
        """Verify; sign a checkpoint over what was verified when it checks out (and the
        trail grew), else raise the alarm."""
        result = await self.verify()
        if not result.ok:
            await self._tampered(result)
            return result
        rows, head = result.verdict.rows, result.verdict.head
        anchor = result.checkpoint
        if anchor is not None and anchor.rows == rows and anchor.head == head:
            return result  # nothing new to vouch for
        now = self._clock()
        signature = signing.sign(self._key, payload(rows, head, now))
        cp = await self._storage.add_audit_checkpoint(now, rows, head, signature)
        self.written = cp
        log.info(
            "audit checkpoint #%d rows=%d head=%s signature=%s",
            cp.id,
            cp.rows,
            cp.head,
            cp.signature,
            extra={"checkpoint": cp.id, "rows": cp.rows, "head": cp.head},
        )
        return result

    async def run(self, every: float) -> None:
        """Checkpoint now and every `every` seconds, until cancelled."""
        while True:
            try:
                await self.checkpoint()
            except StorageUnavailable as exc:  # the database is down: try again next round
                self._retry.failed(exc)
            else:
                self._retry.succeeded()
            await asyncio.sleep(every)

    async def _tampered(self, result: VerifyResult) -> None:
        if result.problems != self._reported:
            self._reported = dict(result.problems)
            log.error(
                "audit trail verification failed: %s",
                "; ".join(f"row {i}: {p}" for i, p in sorted(result.problems.items())),
            )
        now = self._clock()
        alarm_id = await self._storage.raise_audit_tampered(now, len(result.problems))
        if alarm_id is None:
            return
        log.error("raised %s (%s)", TAMPERED_RULE, alarm_id, extra={"alarm_id": alarm_id})
        event = CloudEvent(
            id=f"{alarm_id}:raised",
            source="tracseq-central",
            type=ALARM_RAISED,
            time=now,
            subject="audit",
            data={"rule": TAMPERED_RULE, "alarm_id": alarm_id, "value": len(result.problems)},
        )
        self._hub.publish([event.to_dict()])
