"""`SqlStorage`: the storage interface over a dialect and two pools of connection threads.

Writes go to the writer pool, queries to the reader pool, so a slow report never holds up
ingest. The schema is migrated once, lazily: a database that is down at start makes calls
fail (ingest answers 503) until it is reachable, then the first call migrates it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from central.audit import AuditEntry
from central.storage import checkpoints, ownership, people, read, rollups, write
from central.storage.dialect import Dialect
from central.storage.errors import StorageError as StorageError  # re-exported for older imports
from central.storage.records import Batch, Ingested, OfflineAlarm, Principal, Revocation
from central.storage.runner import Pool

T = TypeVar("T")


GROUP_MAX = 64  # batches per group commit: ~16,000 readings of gateways' usual 250


class _Pending:
    """A batch waiting for the writer, and what storing it gave (set on the writer thread)."""

    __slots__ = ("batch", "outcome")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.outcome: Ingested | Exception | None = None


class SqlStorage:
    """The one storage implementation; backends differ only in their `Dialect`."""

    def __init__(
        self,
        dialect: Dialect,
        writer: Pool[Any],
        reader: Pool[Any],
        clock: Callable[[], float],
        *,
        describe: str,
        group_commit: bool = False,
    ) -> None:
        self.dialect = dialect
        self.describe = describe
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._migrated = False
        self._migrate_lock = asyncio.Lock()
        # One writer connection (SQLite): batches that wait for it are committed together.
        self._group_commit = group_commit
        self._pending: deque[_Pending] = deque()

    @property
    def backend(self) -> str:
        return self.dialect.name

    async def migrate(self) -> int:
        """Bring the schema up to date (idempotent; runs once per process)."""
        async with self._migrate_lock:
            version = await self._writer.call(partial(self.dialect.migrate, now=self._clock()))
            self._migrated = True
            return version

    async def _write(self, fn: Callable[[Any, Dialect], T]) -> T:
        if not self._migrated:
            await self.migrate()
        dialect = self.dialect
        return await self._writer.call(lambda conn: fn(conn, dialect))

    async def _read(self, fn: Callable[[Any, Dialect], T]) -> T:
        if not self._migrated:
            await self.migrate()
        dialect = self.dialect
        return await self._reader.call(lambda conn: fn(conn, dialect))

    async def run_write(self, fn: Callable[[Any, Dialect], T]) -> T:
        """Run `fn(conn, dialect)` on the writer pool (packages with SQL of their own, such as
        central/notify, keep it beside their logic and run it here)."""
        return await self._write(fn)

    async def run_read(self, fn: Callable[[Any, Dialect], T]) -> T:
        """Run `fn(conn, dialect)` on the reader pool."""
        return await self._read(fn)

    async def ping(self) -> None:
        """Raise unless the database answers a query (for /readyz)."""
        await self._read(lambda conn, d: d.one(conn, "SELECT 1"))

    async def close(self) -> None:
        await self._writer.stop()
        await self._reader.stop()

    # --- writes ---------------------------------------------------------------------

    async def ingest(self, batch: Batch) -> Ingested:
        """Store a batch (one transaction, or with `group_commit` a share of one); returns
        once it is committed."""
        if batch.summaries is None:  # here, on the event loop: the writer is the bottleneck
            batch.summaries = rollups.summaries(self.dialect, batch.readings)
        if not self._group_commit:
            return await self._write(partial(write.ingest, batch=batch))
        entry = _Pending(batch)
        self._pending.append(entry)
        return await self._write(partial(self._commit_pending, entry=entry))

    def _commit_pending(self, conn: Any, d: Dialect, entry: _Pending) -> Ingested:
        """On the writer thread: store every batch waiting (up to GROUP_MAX) in one
        transaction, unless an earlier call took this entry's batch into its group; then
        hand back this entry's outcome (an exception is raised here, in its own call, so
        the backend translates it as any other)."""
        if entry.outcome is None:
            group: list[_Pending] = []
            while self._pending and len(group) < GROUP_MAX:
                group.append(self._pending.popleft())
            for taken, outcome in zip(
                group, write.ingest_group(conn, d, [g.batch for g in group]), strict=True
            ):
                taken.outcome = outcome
        assert entry.outcome is not None  # FIFO: it was pending, so in this group or before
        if isinstance(entry.outcome, Exception):
            raise entry.outcome
        return entry.outcome

    async def add_token(self, token_hash: str, source: str, actor: str = "cli") -> None:
        now = self._clock()
        await self._write(
            partial(people.add_token, token_hash=token_hash, source=source, now=now, actor=actor)
        )

    async def add_api_key(self, key_hash: str, name: str, role: str, actor: str = "cli") -> bool:
        now = self._clock()
        return await self._write(
            partial(
                people.add_api_key, key_hash=key_hash, name=name, role=role, now=now, actor=actor
            )
        )

    async def revoke_token(self, token_id: str, actor: str) -> Revocation:
        """Revoke the token whose digest starts with `token_id` (audited)."""
        now = self._clock()
        return await self._write(
            partial(people.revoke_token, token_id=token_id, now=now, actor=actor)
        )

    async def revoke_api_key(self, name: str, actor: str) -> Revocation:
        """Revoke the API key `name` (audited)."""
        now = self._clock()
        return await self._write(partial(people.revoke_api_key, name=name, now=now, actor=actor))

    async def ack(self, alarm_id: str, by: str, comment: str, actor: str) -> int | None:
        """Append an acknowledgement and its audit row (one transaction)."""
        now = self._clock()
        return await self._write(
            partial(people.ack, alarm_id=alarm_id, by=by, comment=comment, actor=actor, now=now)
        )

    async def move_sensor(self, sensor: str, gateway: str, actor: str) -> ownership.Move:
        """Give `sensor` to `gateway` (an admin action, audited as `sensor.move`)."""
        now = self._clock()
        return await self._write(
            partial(ownership.move_sensor, sensor=sensor, gateway=gateway, actor=actor, now=now)
        )

    async def ack_all(
        self, alarm_ids: list[str], by: str, comment: str, actor: str, subject: str | None = None
    ) -> tuple[float, list[tuple[int, str, str | None]]] | None:
        """Acknowledge alarms with one comment (one transaction, audited): the time stored
        and (ack id, alarm id, subject) per alarm; None when an alarm does not exist (or,
        with `subject`, is not that sensor's)."""
        now = self._clock()
        stored = await self._write(
            partial(
                people.ack_all,
                alarm_ids=alarm_ids,
                by=by,
                comment=comment,
                actor=actor,
                now=now,
                subject=subject,
            )
        )
        return None if stored is None else (now, stored)

    # --- people and the audit trail (central/storage/people.py) -------------------------

    async def create_user(
        self,
        name: str,
        role: str,
        password_hash: str,
        actor: str,
        email: str | None = None,
        phone: str | None = None,
    ) -> bool:
        now = self._clock()
        return await self._write(
            partial(
                people.create_user,
                name=name,
                role=role,
                password_hash=password_hash,
                now=now,
                actor=actor,
                email=email,
                phone=phone,
            )
        )

    async def update_user(self, name: str, actor: str, **changes: Any) -> dict[str, Any] | None:
        now = self._clock()
        return await self._write(
            partial(people.update_user, name=name, now=now, actor=actor, **changes)
        )

    async def create_session(
        self, token_hash: str, username: str, csrf_token: str, expires: float, remote: str
    ) -> None:
        now = self._clock()
        await self._write(
            partial(
                people.create_session,
                token_hash=token_hash,
                username=username,
                csrf_token=csrf_token,
                now=now,
                expires=expires,
                remote=remote,
            )
        )

    async def end_session(self, token_hash: str, username: str) -> None:
        now = self._clock()
        await self._write(
            partial(people.end_session, token_hash=token_hash, username=username, now=now)
        )

    async def failed_login(self, username: str, remote: str) -> None:
        now = self._clock()
        await self._write(partial(people.failed_login, username=username, remote=remote, now=now))

    async def audit(
        self, actor: str, action: str, target: str | None, old: Any = None, new: Any = None
    ) -> int:
        now = self._clock()
        return await self._write(
            partial(
                people.append_audit,
                now=now,
                actor=actor,
                action=action,
                target=target,
                old=old,
                new=new,
            )
        )

    async def raise_offline(
        self, gateway: str, cutoff: float, after_s: float
    ) -> OfflineAlarm | None:
        now = self._clock()
        return await self._write(
            partial(write.raise_offline, gateway=gateway, now=now, cutoff=cutoff, after_s=after_s)
        )

    # --- reads ----------------------------------------------------------------------

    async def principal(self, digest: str) -> Principal | None:
        return await self._read(partial(read.principal, digest=digest))

    async def gateways(self) -> list[dict[str, Any]]:
        return await self._read(read.gateways)

    async def sensors(self, sensor: str | None = None) -> list[dict[str, Any]]:
        return await self._read(partial(read.sensors, sensor=sensor))

    async def readings(
        self, sensor: str, start: float, end: float, limit: int
    ) -> list[tuple[float, float]]:
        return await self._read(
            partial(read.readings, sensor=sensor, start=start, end=end, limit=limit)
        )

    async def buckets(
        self, sensor: str, start: float, end: float, step: float
    ) -> list[tuple[float, float, float, float, int]]:
        return await self._read(
            partial(read.buckets, sensor=sensor, start=start, end=end, step=step)
        )

    async def series(
        self, sensor: str, start: float, end: float
    ) -> tuple[list[float], list[float]]:
        return await self._read(partial(read.series, sensor=sensor, start=start, end=end))

    async def alarms(self, active_only: bool, limit: int) -> list[dict[str, Any]]:
        return await self._read(partial(read.alarms, active_only=active_only, limit=limit))

    async def silent_gateways(self, cutoff: float) -> list[str]:
        return await self._read(partial(read.silent_gateways, cutoff=cutoff))

    async def users(self) -> list[dict[str, Any]]:
        return await self._read(people.users)

    async def credentials(self, name: str) -> tuple[str, str] | None:
        return await self._read(partial(people.credentials, name=name))

    async def session(self, token_hash: str) -> tuple[str, str, str] | None:
        now = self._clock()
        return await self._read(partial(people.session, token_hash=token_hash, now=now))

    async def tokens(self) -> list[dict[str, Any]]:
        return await self._read(people.tokens)

    async def api_keys(self) -> list[dict[str, Any]]:
        return await self._read(people.api_keys)

    async def audit_rows(self) -> list[AuditEntry]:
        return await self._read(people.audit_rows)

    # --- audit checkpoints (central/storage/checkpoints.py, central/trail.py) -----------

    async def audit_check(self, check: Callable[[Any, Dialect], T]) -> T:
        """Run `check` (central/trail.py's verification) on the reader connection, so one
        verification reads checkpoints, head and rows in one job."""
        return await self._read(check)

    async def audit_head(self) -> tuple[int, str]:
        return await self._read(checkpoints.head)

    async def audit_from(self, first: int) -> list[AuditEntry]:
        return await self._read(partial(checkpoints.audit_from, first=first))

    async def audit_newest(self, limit: int) -> list[AuditEntry]:
        return await self._read(partial(checkpoints.audit_newest, limit=limit))

    async def audit_checkpoints(self, limit: int) -> list[checkpoints.CheckpointRow]:
        return await self._read(partial(checkpoints.checkpoints, limit=limit))

    async def audit_checkpoint(self, id_: int) -> checkpoints.CheckpointRow | None:
        return await self._read(partial(checkpoints.checkpoint, id_=id_))

    async def add_audit_checkpoint(
        self, at: float, rows: int, head: str, signature: str
    ) -> checkpoints.CheckpointRow:
        return await self._write(
            partial(
                checkpoints.add_checkpoint, now=at, rows=rows, head_hash=head, signature=signature
            )
        )

    async def raise_audit_tampered(self, now: float, problems: int) -> str | None:
        return await self._write(partial(checkpoints.raise_tampered, now=now, problems=problems))

    async def analytics(self, sensor: str, limit: int) -> list[dict[str, Any]]:
        return await self._read(partial(read.analytics, sensor=sensor, limit=limit))
