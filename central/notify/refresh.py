"""Keeping active alarms firing in Prometheus Alertmanager until they clear.

Alertmanager expires a firing alert after its `resolve_timeout` (5m by default) unless the
alert is posted again. While an alarm is active (raised, not cleared), every Alertmanager
target that was sent its raise (a `sent` raised/repeat notification on an Alertmanager
channel) is sent the firing alert again every `INTERVAL` seconds, whatever the level's
`repeat`. Only Alertmanager targets are refreshed (no e-mail or webhook), and refreshes are
not notifications: they are not in the delivery log or the notification metrics.

What to refresh is read from the database each pass, so after a restart refreshing resumes
for every alarm still active (the first pass runs at start). Acknowledged alarms keep firing
until they clear (Alertmanager has no acknowledgement); their alert then carries the
annotations `acknowledged_by` and `acknowledge_comment`.

A refresh is never sent after the clear's resolve (`endsAt`): a pass takes a lease on the
sent rows it refreshes (`claimed_until`, otherwise unused on sent rows), only for alarms that
have no clear notification on that channel yet, and `outbox.claim_due` holds a clear back
while such a lease is live. On PostgreSQL the lease is taken under the planner's advisory
lock, so it is either seen by the clear's claim or sees the clear notification. Several
central instances refresh in turn: rows another instance's pass holds are left to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from central.notify import alarms, alertmanager
from central.notify.errors import SendError
from central.notify.messages import build
from central.notify.planner import PLAN_LOCK
from central.notify.reload import NotifyHolder
from central.storage import SqlStorage, StorageError
from central.storage.dialect import Dialect
from runtime.backoff import RetryLog

log = logging.getLogger("tracseq.central.notify")

INTERVAL = 60.0  # seconds between refreshes: well inside Alertmanager's default 5m
LEASE = 60.0  # longest a pass may hold back a clear if its instance dies mid-post


@dataclass(slots=True)
class Target:
    """One Alertmanager target of a policy and the active alarms it holds."""

    policy: str
    channel: str
    recipients: str  # as stored (JSON), the key a clear notification also has
    alarm_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Claimed:
    targets: list[Target]
    rows: list[int]  # the sent rows leased; released after the pass


def claim(conn: Any, d: Dialect, channels: list[str], now: float, lease: float) -> Claimed:
    """The targets to refresh now, with a lease on their sent rows (one transaction)."""
    if not channels:
        return Claimed([], [])
    among, params = d.one_of("n.channel", channels)
    with d.transaction(conn):
        if d.name == "postgresql":
            d.execute(conn, "SELECT pg_advisory_xact_lock(?)", (PLAN_LOCK,))
        rows = d.all(
            conn,
            f"""SELECT n.id, n.policy, n.channel, n.recipients, a.alarm_id FROM alarms a
            JOIN notification_alarms l ON l.alarm_id = a.alarm_id
            JOIN notifications n ON n.id = l.notification_id
            WHERE a.cleared_at IS NULL AND n.state = 'sent'
                AND n.event IN ('raised', 'repeat') AND {among}
                AND (n.claimed_until IS NULL OR n.claimed_until < ?)
                AND NOT EXISTS (SELECT 1 FROM notification_alarms k
                    JOIN notifications c ON c.id = k.notification_id
                    WHERE k.alarm_id = a.alarm_id AND c.event = 'cleared'
                        AND c.channel = n.channel)
            ORDER BY n.policy, n.channel, n.recipients, a.alarm_id""",
            (*params, now),
        )
        targets: dict[tuple[str, str, str], Target] = {}
        ids: set[int] = set()
        for id_, policy, channel, recipients, alarm_id in rows:
            key = (str(policy), str(channel), str(recipients))
            target = targets.setdefault(key, Target(*key))
            if str(alarm_id) not in target.alarm_ids:
                target.alarm_ids.append(str(alarm_id))
            ids.add(int(id_))
        for id_ in ids:
            d.execute(
                conn,
                "UPDATE notifications SET claimed_until = ? WHERE id = ? AND state = 'sent'",
                (now + lease, id_),
            )
    return Claimed(list(targets.values()), sorted(ids))


def release(conn: Any, d: Dialect, rows: list[int]) -> None:
    """End a pass's lease: a clear held back for it may go now."""
    with d.transaction(conn):
        for id_ in rows:
            d.execute(
                conn,
                "UPDATE notifications SET claimed_until = NULL WHERE id = ? AND state = 'sent'",
                (id_,),
            )


class Refresher:
    """One task of `Notify.run()`: a pass at start, then one every `interval` seconds."""

    def __init__(
        self,
        storage: SqlStorage,
        holder: NotifyHolder,
        clock: Callable[[], float],
        *,
        interval: float = INTERVAL,
        lease: float = LEASE,
    ) -> None:
        self._storage = storage
        self._holder = holder
        self._clock = clock
        self._interval = interval
        self._lease = lease
        self._retry = RetryLog(log, "refreshing Alertmanager alerts")

    async def run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    await self.refresh(client)
                except StorageError as exc:  # the database is down or busy: next pass
                    self._retry.failed(exc)
                await asyncio.sleep(self._interval)

    async def refresh(self, client: httpx.AsyncClient) -> int:
        """One pass: post every active alarm's firing alert again; returns the posts made."""
        config = self._holder.config
        channels = {n: c.alertmanager for n, c in config.channels.items() if c.alertmanager}
        start = self._clock()
        claimed = await self._storage.run_write(
            partial(claim, channels=sorted(channels), now=start, lease=self._lease)
        )
        if not claimed.rows:
            return 0
        posts = 0
        failed: SendError | None = None
        try:
            for target in claimed.targets:
                infos = await self._storage.run_read(
                    partial(alarms.load, alarm_ids=target.alarm_ids)
                )
                infos = [a for a in infos if a.cleared_at is None]
                channel = channels.get(target.channel)
                if not infos or channel is None:
                    continue
                if self._clock() + channel.timeout >= start + self._lease:
                    break  # the post could outlast the lease (and follow a clear): next pass
                base = config.defaults.base_url
                message = build("raised", infos, base, target.policy)
                try:
                    await alertmanager.send(
                        client, channel, message, base, target.policy, self._clock()
                    )
                except SendError as exc:  # Alertmanager is down: the next pass tries again
                    failed = exc
                else:
                    posts += 1
        finally:
            await self._storage.run_write(partial(release, rows=claimed.rows))
        if failed is not None:
            self._retry.failed(failed)
        else:
            self._retry.succeeded()
        log.debug("refreshed %d Alertmanager target(s)", posts)
        return posts
