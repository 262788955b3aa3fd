"""The edge's fallback e-mail: an alarm central has not confirmed within `notify.after`.

Central notifies people about alarms once they are synced. When the WAN or central is
down, nobody would hear of an alarm, so the edge mails `notify.to` itself for each alarm
raised whose event the `sync` cursor has not passed (central has not answered 200 for it)
`after` seconds after its raise. Without a `sync:` section nothing ever confirms and every
alarm is mailed after `after`. Alarms that fall due within a minute (at most a fifth of
`after`) of the first go out with it as one message.

Exactly one fallback per alarm, across restarts, through the log's state table:
- `notify:pending:<alarm_id>`: an alarm waiting for its deadline (written with the
  checkpoint `notify:seq`, the last log seq this component has looked at);
- a sent message is recorded as `org.tracseq.alarm.notified` (data `alarm_id, channel, to`)
  in the same transaction that deletes its pending key, so it syncs to central and is never
  sent again. Only a crash between the SMTP server's acceptance and that commit (a few
  milliseconds) can send it twice: at least once, never lost.
A failed send is retried with backoff until it goes out or central confirms the alarm.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass

import orjson
from prometheus_client import Counter

from edge import fallback_mail
from edge.entry import Entry, Stored
from edge.errors import LogClosedError, LogError, NotifyError
from edge.log import DurableLog
from edgeconfig import Config, Notify
from runtime import events
from runtime.backoff import Backoff, RetryLog
from runtime.cancellation import raise_if_cancelled
from runtime.clock import Clock
from runtime.health import Health

log = logging.getLogger("tracseq.edge.notify")

NOTIFICATIONS = Counter(
    "tracseq_edge_fallback_notifications_total",
    "Alarms the edge mailed itself (sent) or central confirmed in time (confirmed)",
    ["outcome"],
)

CHANNEL = "email"
SYNC_CURSOR = "sync"  # the uploader's cursor (sync.uploader.CURSOR)
CHECKPOINT = "notify:seq"
PENDING_PREFIX = "notify:pending:"
_READ_CHUNK = 2000
_CHECKPOINT_EVERY = 30.0  # seconds between checkpoints while only readings pass
_GROUP_MAX = 60.0  # alarms falling due within this (at most after/5) share one message


@dataclass(slots=True)
class Pending:
    """An alarm raised and not yet confirmed by central nor mailed."""

    alarm_id: str
    seq: int  # the alarm.raised event's seq
    sensor: str
    rule: str
    value: float | None
    threshold: float | None
    since: str
    raised: float  # when the edge raised it (epoch s): `after` counts from here
    cleared: bool = False


class FallbackNotifier:
    """The `notify` component."""

    name = "notify"

    def __init__(self, config: Config, log_: DurableLog, clock: Clock) -> None:
        if config.notify is None:
            raise ValueError("the fallback notifier needs a `notify:` section")
        self._notify: Notify = config.notify
        self._gateway = config.gateway.id
        self._log = log_
        self._clock = clock
        self._origin = log_.last_seq  # first start: alarms before now are not mailed
        self.pending: dict[str, Pending] = {}
        self.sent = 0
        self.confirmed = 0
        self._seen_seq = 0
        self._state: dict[str, bytes | None] = {}
        self._entries: list[Entry] = []  # alarm.notified events not committed yet
        self._checkpointed = 0
        self._checkpoint_at = 0.0
        self._error: str | None = None
        self._started = False

    def health(self) -> Health:
        counters = {"pending": len(self.pending), "sent": self.sent, "confirmed": self.confirmed}
        if self._error is not None:
            return Health("degraded", self._error, counters)
        if not self._started:
            return Health("starting", "", counters)
        return Health("connected", f"fallback e-mail after {self._notify.after:g}s", counters)

    # --- running -----------------------------------------------------------------------

    async def run(self) -> None:
        inbox: asyncio.Queue[list[Stored]] = asyncio.Queue()
        self._log.add_listener(inbox.put_nowait)
        backoff = Backoff(base=1.0, cap=60.0)
        retry = RetryLog(log, f"fallback e-mail via {self._notify.smtp.host}")
        retry_at: float | None = None
        try:
            self._load()
            while chunk := await self._log.read(self._seen_seq, _READ_CHUNK):
                self._take(chunk)
            await self._commit()
            self._started = True
            while True:
                while not inbox.empty():
                    self._take(inbox.get_nowait())
                self._drop_confirmed()
                now = self._clock.time()
                due = self._due(now)
                if due and (retry_at is None or self._clock.monotonic() >= retry_at):
                    try:
                        await self._send(due)
                    except NotifyError as exc:
                        retry.failed(exc)
                        self._error = f"{len(due)} alarm(s) not mailed yet: {exc}"
                        retry_at = self._clock.monotonic() + backoff.next_delay()
                    else:
                        retry.succeeded()
                        backoff.reset()
                        retry_at, self._error = None, None
                await self._commit()  # a message accepted is recorded before stopping
                raise_if_cancelled()  # aiosmtplib may have swallowed a cancellation
                await self._wait(inbox, self._next_wake(retry_at))
        finally:
            self._log.remove_listener(inbox.put_nowait)
            self._started = False

    def _load(self) -> None:
        self.pending.clear()
        self._state.clear()
        for key, raw in self._log.state(PENDING_PREFIX).items():
            try:
                pending = Pending(**orjson.loads(raw))
            except (orjson.JSONDecodeError, TypeError) as exc:
                log.error("fallback state %s unreadable (%s): ignored", key, exc)
                self._state[key] = None
                continue
            self.pending[pending.alarm_id] = pending
        for entry in self._entries:  # mailed before a restart of this component, not recorded
            self._forget(str(entry.data["alarm_id"]))
        checkpoint = self._log.state(CHECKPOINT).get(CHECKPOINT)
        self._seen_seq = int(checkpoint) if checkpoint is not None else self._origin
        self._checkpointed = self._seen_seq

    def _take(self, batch: list[Stored]) -> None:
        for entry in batch:
            if entry.seq <= self._seen_seq:
                continue
            self._seen_seq = entry.seq
            alarm_id = entry.data.get("alarm_id")
            if entry.type == events.ALARM_RAISED and isinstance(alarm_id, str):
                self._keep(
                    Pending(
                        alarm_id,
                        entry.seq,
                        entry.subject or "",
                        str(entry.data.get("rule")),
                        _number(entry.data.get("value")),
                        _number(entry.data.get("threshold")),
                        str(entry.data.get("since")),
                        entry.received,
                    )
                )
            elif entry.type == events.ALARM_CLEARED and alarm_id in self.pending:
                pending = self.pending[str(alarm_id)]
                pending.cleared = True
                self._keep(pending)

    def _due(self, now: float) -> list[Pending]:
        """The alarms to mail now: those past `after`, and with them those that fall due
        within the grouping window, so a storm of alarms is one message, not dozens."""
        after = self._notify.after
        if not any(p.raised + after <= now for p in self.pending.values()):
            return []
        window = min(_GROUP_MAX, after / 5)
        return [p for p in self.pending.values() if p.raised + after <= now + window]

    def _keep(self, pending: Pending) -> None:
        self.pending[pending.alarm_id] = pending
        self._state[PENDING_PREFIX + pending.alarm_id] = orjson.dumps(asdict(pending))

    def _forget(self, alarm_id: str) -> None:
        self.pending.pop(alarm_id, None)
        self._state[PENDING_PREFIX + alarm_id] = None

    def _drop_confirmed(self) -> None:
        if SYNC_CURSOR not in self._log.cursor_names:
            return
        synced = self._log.cursor(SYNC_CURSOR)
        for pending in [p for p in self.pending.values() if p.seq <= synced]:
            self._forget(pending.alarm_id)
            self.confirmed += 1
            NOTIFICATIONS.labels(outcome="confirmed").inc()

    async def _send(self, due: list[Pending]) -> None:
        due.sort(key=lambda p: (p.raised, p.sensor))
        message = fallback_mail.compose(
            self._notify.smtp, self._notify.to, self._subject(due), self._body(due)
        )
        await fallback_mail.send(self._notify.smtp, message)
        now = self._clock.time()
        for pending in due:
            data = {"alarm_id": pending.alarm_id, "channel": CHANNEL, "to": list(self._notify.to)}
            self._entries.append(
                Entry(events.ALARM_NOTIFIED, pending.sensor, None, now, data, keep=True)
            )
            self._forget(pending.alarm_id)
            log.warning(
                "central has not confirmed alarm %s within %gs: e-mailed %s",
                pending.alarm_id,
                self._notify.after,
                ", ".join(self._notify.to),
            )
        self.sent += len(due)
        NOTIFICATIONS.labels(outcome="sent").inc(len(due))

    def _subject(self, due: list[Pending]) -> str:
        if len(due) == 1:
            p = due[0]
            state = "cleared" if p.cleared else "ALARM"
            return f"[TracSeq {self._gateway}] {state} {p.sensor} {p.rule}"
        return f"[TracSeq {self._gateway}] {len(due)} alarms: " + ", ".join(
            sorted({p.sensor for p in due})
        )

    def _body(self, due: list[Pending]) -> str:
        lines = [
            f"Gateway {self._gateway} raised these alarms and central has not confirmed them "
            f"within {self._notify.after:g}s (central or the network may be down), so the "
            "gateway tells you itself. Acknowledge them on the dashboard once it is reachable.",
            "",
        ]
        for p in due:
            lines.append(
                f"- {p.sensor}: {p.rule} alarm, value {p.value}, limit {p.threshold}, since "
                f"{p.since}, raised {events.format_time(p.raised)}"
                + (" (cleared since)" if p.cleared else " (still active)")
                + f" [alarm {p.alarm_id}]"
            )
        return "\n".join(lines) + "\n"

    async def _commit(self) -> None:
        """Record sent messages with their pending keys deleted and the checkpoint, at once."""
        now = self._clock.monotonic()
        behind = self._seen_seq > self._checkpointed
        periodic = behind and now - self._checkpoint_at >= _CHECKPOINT_EVERY
        if not (self._entries or self._state or periodic):
            return
        state = dict(self._state)
        state[CHECKPOINT] = str(self._seen_seq).encode()
        entries, seen = list(self._entries), self._seen_seq
        try:
            await self._log.append(entries, state=state)
        except LogClosedError:
            raise
        except LogError as exc:  # kept in memory and committed with the next attempt
            self._error = f"fallback records not committed: {exc}"
            return
        del self._entries[: len(entries)]
        for key in state.keys() & self._state.keys():
            if self._state[key] == state[key]:
                del self._state[key]
        self._checkpointed, self._checkpoint_at = seen, now

    def _next_wake(self, retry_at: float | None) -> float:
        """Seconds until something is due: a deadline, a retry, a checkpoint."""
        waits = [_CHECKPOINT_EVERY]
        now = self._clock.time()
        if self.pending:
            soonest = min(p.raised for p in self.pending.values()) + self._notify.after
            if soonest > now or retry_at is None:  # a due one waits for its retry instead
                waits.append(soonest - now)
        if retry_at is not None:
            waits.append(retry_at - self._clock.monotonic())
        return max(0.0, min(waits))

    async def _wait(self, inbox: asyncio.Queue[list[Stored]], seconds: float) -> None:
        if not inbox.empty():
            return
        getter = asyncio.ensure_future(inbox.get())
        timer = asyncio.ensure_future(sleep_until(self._clock, self._clock.monotonic() + seconds))
        try:
            await asyncio.wait({getter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if getter.done() and not getter.cancelled():
                self._take(getter.result())
            else:
                getter.cancel()


async def sleep_until(clock: Clock, deadline: float) -> None:
    """Sleep until the clock's monotonic `deadline`: a task may start after the clock moved."""
    while (remaining := deadline - clock.monotonic()) > 0:
        await clock.sleep(remaining)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
