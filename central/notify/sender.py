"""The sender: plans the outbox, claims due notifications, sends them, records each attempt.

One task in central's lifespan TaskGroup runs `Sender.run()`. Each round it plans new
outbox rows (central/notify/planner.py), claims what is due (central/notify/outbox.py) and
sends the claimed messages concurrently. A failed send is retried with the project's
backoff (runtime/backoff.py) and stays in the log as `failed` with its error until it goes
through; a refusal that retrying cannot fix (recipient refused, HTTP 4xx) ends as `failed`.
After a raised or repeated message is sent, its level's next `repeat` is scheduled in the
same transaction that records the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from central.notify import alarms, alertmanager, outbox, planner, reports, smtp, webhook
from central.notify.config import NotifyConfig
from central.notify.errors import SendError
from central.notify.messages import build
from central.notify.reload import NotifyHolder
from central.storage import SqlStorage, StorageError
from central.storage.dialect import Dialect
from runtime.backoff import Backoff, RetryLog

log = logging.getLogger("tracseq.central.notify")

TEST_POLICY = "(test)"
REPORT_RECHECK = 2.0  # seconds between looks for the sites of a due report that has none


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "tracseq_central_notifications_total",
            "Notification attempts by channel and outcome (sent, failed, cancelled)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.delay = Histogram(
            "tracseq_central_notification_delay_seconds",
            "Alarm raised -> message accepted by the channel",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    state: str
    error: str | None


class Sender:
    def __init__(
        self,
        storage: SqlStorage,
        holder: NotifyHolder,
        metrics: NotifyMetrics,
        clock: Callable[[], float],
        *,
        poll: float = 0.25,
        lease: float = 120.0,
        batch: int = 50,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
    ) -> None:
        self._storage = storage
        self._holder = holder
        self._metrics = metrics
        self._clock = clock
        self._poll = poll
        self._lease = lease
        self._batch = batch
        self._backoff = (backoff_base, backoff_cap)
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._retry = RetryLog(log, "sending notifications")
        self._client: httpx.AsyncClient | None = None
        self._reports_planned: set[tuple[int, str, str, float]] = set()
        self._reports_looked: dict[tuple[int, str, str, float], float] = {}

    async def run(self) -> None:
        """Until cancelled: plan, claim, send; wait `poll` when there was nothing to do."""
        async with httpx.AsyncClient() as client:
            self._client = client
            try:
                while True:
                    try:
                        busy = await self.round()
                    except StorageError as exc:  # the database is down or busy: next round
                        self._retry.failed(exc)
                        busy = False
                    else:
                        self._retry.succeeded()
                    if not busy:
                        await asyncio.sleep(self._poll)
            finally:
                self._client = None

    async def round(self) -> bool:
        """One pass; True when it did something (so the next pass comes at once)."""
        config = self._holder.config
        now = self._clock()
        busy = await self._plan_reports(config, now)
        if await self._storage.run_read(_has_unplanned):
            done = await self._storage.run_write(partial(planner.plan, config=config, now=now))
            busy = done.rows > 0
        if not await self._storage.run_read(partial(_has_due, now=now)):
            return busy
        claimed = await self._storage.run_write(
            partial(outbox.claim_due, now=now, lease=self._lease, limit=self._batch)
        )
        async with asyncio.TaskGroup() as group:
            for item in claimed:
                group.create_task(self._deliver_or_wait(item, config))
        return busy or bool(claimed)

    async def _plan_reports(self, config: NotifyConfig, now: float) -> bool:
        """Write the notifications of every report whose scheduled time came (once per run
        of this process; the database keeps it once across restarts and instances)."""
        made = 0
        for index, report in enumerate(config.reports):
            slot = reports.latest_slot(report, now)
            mark = (index, report.site, report.channel, slot)
            if mark in self._reports_planned or now < self._reports_looked.get(mark, 0.0):
                continue
            contacts = await self._storage.run_read(planner.contacts)
            sites, written = await self._storage.run_write(
                partial(
                    reports.schedule,
                    config=config,
                    contacts=contacts,
                    report=report,
                    slot=slot,
                    now=now,
                )
            )
            made += written
            if sites:
                self._reports_planned.add(mark)
            else:  # no such site yet: look again soon (its sensors may be described later)
                self._reports_looked[mark] = now + REPORT_RECHECK
        return made > 0

    async def _deliver_or_wait(self, item: outbox.Claimed, config: NotifyConfig) -> None:
        try:
            await self.deliver(item, config)
        except StorageError as exc:  # the claim's lease runs out; then it is sent again
            self._retry.failed(exc)

    async def deliver(self, item: outbox.Claimed, config: NotifyConfig) -> Outcome:
        """Send one claimed notification and record the attempt."""
        if item.event == reports.EVENT:
            return await self._deliver_report(item, config)
        infos = await self._storage.run_read(partial(alarms.load, alarm_ids=item.alarm_ids))
        infos = [a for a in infos if alarms.still_due(a, item.event, item.level)]
        if item.event != "test" and not infos:
            await self._finish(item, "cancelled", "nothing left to say", None, attempted=False)
            return Outcome(item.id, "cancelled", None)
        message = build(item.event, infos, config.defaults.base_url, item.policy)
        try:
            await self._send(item, config, message)
        except SendError as exc:
            return await self._failed(item, exc)
        now = self._clock()
        if item.event == "raised" and infos:
            self._metrics.delay.observe(max(0.0, now - min(a.since or now for a in infos)))
        ids = [a.alarm_id for a in infos]
        await self._storage.run_write(
            partial(_sent, item=item, config=config, alarm_ids=ids, now=now, who=self.instance)
        )
        self._metrics.total.labels(item.channel, "sent").inc()
        return Outcome(item.id, "sent", None)

    async def _failed(self, item: outbox.Claimed, exc: SendError) -> Outcome:
        backoff = Backoff(*self._backoff, attempts=item.attempts)
        retry_at = self._clock() + backoff.next_delay() if exc.retry else None
        await self._finish(item, "failed", str(exc), retry_at)
        log.warning(
            "notification %d (%s to %s) failed%s: %s",
            item.id,
            item.channel,
            ",".join(item.recipients) or item.channel,
            "" if exc.retry else " for good",
            exc,
        )
        return Outcome(item.id, "failed", str(exc))

    async def _deliver_report(self, item: outbox.Claimed, config: NotifyConfig) -> Outcome:
        """Build a site's report PDF now and e-mail it as an attachment."""
        # Imported here: the report modules import central.signatures, which imports the
        # Services that hold this sender (a module-level import would be a cycle).
        from central import report_data, report_pdf

        site, start, end = reports.parse_key(item.policy)
        now = self._clock()
        body = await self._storage.run_read(
            partial(report_data.site_report, site=site, start=start, end=end, now=now)
        )
        if body is None:
            await self._finish(item, "cancelled", f"no sensor of site {site!r}", None)
            return Outcome(item.id, "cancelled", None)
        document = await asyncio.to_thread(report_pdf.render, body)
        channel = config.channels.get(item.channel)
        try:
            if channel is None or channel.smtp is None:
                gone = f"channel {item.channel!r} is no longer an smtp channel"
                raise SendError(gone, retry=False)
            attachment = (reports.filename(site, end), document)
            message = reports.message(body, site, start, end)
            await smtp.send(channel.smtp, item.recipients, message, item.id, [attachment])
        except SendError as exc:
            return await self._failed(item, exc)
        digest = hashlib.sha256(document).hexdigest()
        new = {"sha256": digest, "bytes": len(document), "content_sha256": body["content_sha256"]}
        await self._storage.audit(
            reports.ACTOR, "report.pdf", body["record"], None, {**new, "to": item.recipients}
        )
        await self._finish(item, "sent", None, None)
        return Outcome(item.id, "sent", None)

    async def _send(self, item: outbox.Claimed, config: NotifyConfig, message: Any) -> None:
        channel = config.channels.get(item.channel)
        if channel is None:
            raise SendError(f"channel {item.channel!r} is no longer configured", retry=False)
        if channel.smtp is not None:
            await smtp.send(channel.smtp, item.recipients, message, item.id)
        elif channel.webhook is not None:
            meta = {
                "notification_id": item.id,
                "policy": item.policy,
                "level": item.level,
                "to": item.recipients,
            }
            async with self._http() as client:
                await webhook.send(client, channel.webhook, message, meta)
        elif channel.alertmanager is not None:
            if item.event == "acknowledged":
                return
            base = config.defaults.base_url
            now = self._clock()
            async with self._http() as client:
                await alertmanager.send(
                    client, channel.alertmanager, message, base, item.policy, now
                )

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        """The running sender's client, or a short-lived one (a test sent while not running)."""
        if self._client is not None:
            yield self._client
            return
        async with httpx.AsyncClient() as client:
            yield client

    async def _finish(
        self,
        item: outbox.Claimed,
        state: str,
        error: str | None,
        retry_at: float | None,
        *,
        attempted: bool = True,
    ) -> None:
        self._metrics.total.labels(item.channel, state).inc()
        await self._storage.run_write(
            partial(
                outbox.finish,
                notification_id=item.id,
                state=state,
                now=self._clock(),
                instance=self.instance,
                error=error,
                retry_at=retry_at,
                attempted=attempted,
            )
        )

    async def send_test(self, channel: str, to: list[str], actor: str) -> Outcome:
        """Send a test message now through `channel` (recorded in the log like any other)."""
        config = self._holder.config
        if channel not in config.channels:
            raise SendError(f"unknown channel {channel!r}", retry=False)
        now = self._clock()
        item = await self._storage.run_write(
            partial(_test_row, channel=channel, to=to, now=now, lease=self._lease)
        )
        message = build("test", [], config.defaults.base_url, TEST_POLICY)
        message = type(message)(
            subject="[TracSeq] TEST message",
            text=f"A test message from TracSeq Edge central, sent by {actor}.\n"
            f"Alarms reach this address through channel {channel!r}.",
            short=f"TracSeq test message via {channel}",
            event="test",
            alarms=(),
        )
        try:
            await self._send(item, config, message)
        except SendError as exc:
            await self._finish(item, "failed", str(exc), None)
            return Outcome(item.id, "failed", str(exc))
        await self._finish(item, "sent", None, None)
        return Outcome(item.id, "sent", None)


def _has_unplanned(conn: Any, d: Dialect) -> bool:
    return d.one(conn, "SELECT 1 FROM notify_outbox WHERE planned IS NULL LIMIT 1") is not None


def _has_due(conn: Any, d: Dialect, now: float) -> bool:
    row = d.one(
        conn,
        """SELECT 1 FROM notifications WHERE due_at IS NOT NULL AND due_at <= ?
            AND (state IN ('pending', 'failed') OR (state = 'sending' AND claimed_until < ?))
        LIMIT 1""",
        (now, now),
    )
    return row is not None


def _sent(
    conn: Any,
    d: Dialect,
    item: outbox.Claimed,
    config: NotifyConfig,
    alarm_ids: list[str],
    now: float,
    who: str,
) -> None:
    with d.transaction(conn):
        outbox.finish(conn, d, item.id, "sent", now, who)
        alarms.schedule_repeats(conn, d, config, item, alarm_ids, now)


def _test_row(
    conn: Any, d: Dialect, channel: str, to: list[str], now: float, lease: float
) -> outbox.Claimed:
    with d.transaction(conn):
        id_ = outbox.create(
            conn,
            d,
            policy=TEST_POLICY,
            level=0,
            event="test",
            channel=channel,
            recipients=to,
            alarm_ids=[],
            now=now,
            due=None,
            group_until=None,
            state="sending",
        )
        d.execute(
            conn, "UPDATE notifications SET claimed_until = ? WHERE id = ?", (now + lease, id_)
        )
    return outbox.Claimed(id_, TEST_POLICY, 0, "test", channel, to, 0, now, [])
