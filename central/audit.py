"""The audit trail's hash chain and CSV export (21 CFR Part 11 §11.10(e)).

Every acknowledgement, sign-in (and failed attempt), sign-out, user, API key and gateway
token change is one row: who (`actor`), what (`action`, `target`), when (`at`), old and new
value. Rows are numbered 1, 2, 3, ... under a lock and each carries the hash of the row
before it:

    hash = sha256(prev_hash + "\\n" + JSON [id, at, actor, action, target, old, new])

The table refuses UPDATE and DELETE (triggers), and `verify` recomputes the chain, so an
edit made around the triggers (another tool, a restored backup, a dropped trigger) shows
up as the first row whose hash no longer matches, and a deleted row as a gap in the ids or
a `prev_hash` that does not match. Anyone with write access could recompute the whole
chain, so the newest hash is shown on the audit page for auditors to note outside the
database, and central signs checkpoints {rows, head hash} with a key kept outside it
(central/trail.py): a trail that shrank or was re-chained since the last one is reported.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from runtime.events import format_time

GENESIS = "0" * 64
CSV_FIELDS = ("id", "at", "actor", "action", "target", "old_value", "new_value", "hash", "problem")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    target: str | None
    old_value: str | None
    new_value: str | None
    prev_hash: str
    hash: str

    def to_dict(self, problem: str | None = None) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = format_time(self.at)
        out["problem"] = problem
        return out


def row_hash(
    prev_hash: str,
    id_: int,
    at: float,
    actor: str,
    action: str,
    target: str | None,
    old_value: str | None,
    new_value: str | None,
) -> str:
    body = orjson.dumps([id_, at, actor, action, target, old_value, new_value])
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The chain check: ok, and the problem found at each row id (at most one per row)."""

    rows: int
    problems: dict[int, str]
    head: str

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "head": self.head,
            "problems": [{"id": i, "problem": p} for i, p in sorted(self.problems.items())],
        }


def verify(entries: Iterable[AuditEntry], *, first: int = 1, prev: str = GENESIS) -> Verdict:
    """Recompute the chain over the rows in id order: all of them, or (incremental, from
    a checkpoint) those from id `first` on, whose first row must link to `prev`."""
    problems: dict[int, str] = {}
    expected_id = first
    count = first - 1
    for e in entries:
        count += 1
        found: list[str] = []
        if e.id != expected_id:
            found.append(f"rows {expected_id}..{e.id - 1} are missing (deleted)")
        if e.prev_hash != prev:
            found.append("its link to the previous row is broken (a row was deleted or edited)")
        again = row_hash(
            e.prev_hash, e.id, e.at, e.actor, e.action, e.target, e.old_value, e.new_value
        )
        if again != e.hash:
            found.append("its content does not match its hash (edited)")
        if found:
            problems[e.id] = "; ".join(found)
        expected_id = e.id + 1
        prev = e.hash
    return Verdict(count, problems, prev)


def check_rows(entries: Iterable[AuditEntry]) -> dict[int, str]:
    """The problems visible inside a window of rows (any order): content that does not match
    its hash, and broken links or gaps between rows of the window that follow each other."""
    problems: dict[int, str] = {}
    ordered = sorted(entries, key=lambda e: e.id)
    for before, e in zip([None, *ordered], ordered, strict=False):
        found: list[str] = []
        if before is not None and e.id != before.id + 1:
            found.append(f"rows {before.id + 1}..{e.id - 1} are missing (deleted)")
        elif before is not None and e.prev_hash != before.hash:
            found.append("its link to the previous row is broken (a row was deleted or edited)")
        again = row_hash(
            e.prev_hash, e.id, e.at, e.actor, e.action, e.target, e.old_value, e.new_value
        )
        if again != e.hash:
            found.append("its content does not match its hash (edited)")
        if found:
            problems[e.id] = "; ".join(found)
    return problems


def to_csv(entries: Iterable[AuditEntry], problems: dict[int, str]) -> Iterator[str]:
    """CSV lines (header first). Cells that a spreadsheet would run as a formula are
    prefixed with an apostrophe (OWASP CSV injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    yield _drain(buffer)
    for e in entries:
        row = e.to_dict(problems.get(e.id))
        writer.writerow([safe_cell(row[name]) for name in CSV_FIELDS])
        yield _drain(buffer)


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
