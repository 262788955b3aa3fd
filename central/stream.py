"""Live events for the dashboard: `GET /api/v1/stream` (Server-Sent Events).

Every event central stores (or raises itself, like `gateway_offline`) is numbered and kept
in a bounded in-memory buffer. Each has an SSE `id`: `<process epoch>-<number>` on a single
instance, or the id the shared feed gave it (central/livefeed.py), the same on every
instance. A client that reconnects with `Last-Event-ID` -- to this instance or, with the
shared feed, any other -- gets everything it missed while that is still buffered; when it
is not (the buffer moved on, central restarted, the feed had a gap) it gets an
`event: reset` and reloads its state from the query API.

While nothing else goes out, an `event: keepalive` (data `{"every_s": <interval>}`, no `id`,
so it leaves Last-Event-ID alone) is sent every `--sse-keepalive` (15 s): proxies do not
close the idle connection, and the page -- which never sees SSE comments -- can tell a
silently dead connection (NAT entry dropped, laptop asleep) from a quiet one and reconnect.
At each keepalive (`while_allowed`) the caller is checked again: a stream whose session
ended, whose user was disabled or whose API key was revoked is closed.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import operator
import re
import secrets
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

import msgspec
import orjson

from central.storage import StorageUnavailable
from central.storage.records import Envelope
from runtime.events import valid_type

log = logging.getLogger("tracseq.central.stream")

HEARTBEAT_SECONDS = 15.0  # default of `tracseq-edge central --sse-keepalive`
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_FIRST = operator.itemgetter(0)


class Hub:
    """A numbered, bounded buffer of recent events plus the clients waiting for more."""

    def __init__(self, size: int) -> None:
        self.epoch = secrets.token_hex(4)
        # The buffered events are numbered oldest = _next - len(_buffer) .. _next - 1. Their
        # SSE ids are computed, not stored per event (this runs for every event central
        # stores): `<epoch>-<number>`, or with the shared feed `<message>.<index>`, from the
        # feed's messages still buffered: (number of its first event, name) in _messages.
        self._buffer: deque[Envelope] = deque(maxlen=size)
        self._messages: deque[tuple[int, str]] = deque()
        self._message_at: dict[str, int] = {}  # message name -> number of its first event
        self._next = 1
        self._generation = 0  # bumped by gap(): every client resets
        self._waiters: set[asyncio.Event] = set()
        self._live = asyncio.Event()
        self._live.set()

    @property
    def clients(self) -> int:
        return len(self._waiters)

    @property
    def live(self) -> bool:
        """False while the events of other instances cannot reach this one."""
        return self._live.is_set()

    def publish(self, events: Iterable[Envelope]) -> None:
        """Announce events this instance stored (after their transaction committed)."""
        self.deliver(list(events))

    def deliver(self, events: Sequence[Envelope], message: str | None = None) -> None:
        """Buffer events for the clients: numbered here, or the shared feed's `message`
        (their SSE ids `<message>.<index>`)."""
        if message is not None and events:  # (an empty message names no event)
            self._messages.append((self._next, message))
            self._message_at[message] = self._next
        self._buffer.extend(events)
        self._next += len(events)
        messages, oldest = self._messages, self._next - len(self._buffer)
        while len(messages) > 1 and messages[1][0] <= oldest:  # all its events left
            del self._message_at[messages.popleft()[1]]
        self._wake()

    async def run(self) -> None:
        """Background work of the hub until cancelled (none here; see SharedHub)."""

    def gap(self) -> None:
        """Events may have been missed (the shared feed reconnected): every client resets."""
        self._buffer.clear()
        self._messages.clear()
        self._message_at.clear()
        self._generation += 1
        self._wake()

    def resume_point(self, last_event_id: str | None) -> int | None:
        """The number to send after, or None when the client must reset."""
        if not last_event_id:
            return self._next - 1
        number = self._number_of(last_event_id)
        if number is not None:
            return number
        # A position id (sent with `reset` when nothing was buffered): still good while
        # nothing after it has been dropped from the buffer.
        prefix, _, text = last_event_id.rpartition("-")
        if prefix != self._position_prefix() or not text.isdigit():
            return None
        after = int(text)
        oldest = self._next - len(self._buffer)
        if after + 1 < oldest or after >= self._next:
            return None
        return after

    async def follow(
        self, last_event_id: str | None, heartbeat: float = HEARTBEAT_SECONDS
    ) -> AsyncGenerator[bytes, None]:
        """SSE frames from after `last_event_id`, forever, with a keepalive event whenever
        nothing else went out for `heartbeat` seconds (and one first: it tells the interval)."""
        keepalive = _keepalive(heartbeat)
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            yield keepalive
            while not self._live.is_set():  # nothing to promise until the feed listens
                try:
                    await asyncio.wait_for(self._live.wait(), heartbeat)
                except TimeoutError:
                    yield b": waiting for the live feed\n\n" + keepalive
            generation = self._generation
            after = self.resume_point(last_event_id)
            yield b": connected\n\n"
            if after is None:
                after = self._next - 1
                yield self._reset(after)
            while True:
                if generation != self._generation:
                    generation = self._generation
                    after = self._next - 1
                    yield self._reset(after)
                for number, sse_id, event in self._since(after):
                    after = number
                    yield _frame(sse_id, event)
                waiter.clear()
                if self._next - 1 > after or generation != self._generation:
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), heartbeat)
                except TimeoutError:
                    yield keepalive
        finally:
            self._waiters.discard(waiter)

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def _position_prefix(self) -> str:
        return f"{self.epoch}.{self._generation}"

    def _reset(self, after: int) -> bytes:
        """The reset frame; its id is the newest buffered event's, or a position id."""
        if self._buffer and self._next - 1 == after:
            sse_id = self._id_of(after)
        else:
            sse_id = f"{self._position_prefix()}-{after}"
        return f"id: {sse_id}\nevent: reset\ndata: {{}}\n\n".encode()

    def _id_of(self, number: int) -> str:
        """The SSE id of buffered event `number`."""
        return next(self._ids(number))

    def _ids(self, first: int) -> Iterator[str]:
        """The SSE ids of the buffered events from number `first` on."""
        if not self._messages:
            yield from (f"{self.epoch}-{n}" for n in range(first, self._next))
            return
        at = bisect.bisect_right(self._messages, first, key=_FIRST) - 1
        number = first
        for i in range(at, len(self._messages)):
            start, name = self._messages[i]
            end = self._message_end(i)
            for n in range(number, end):
                yield f"{name}.{n - start}"
            number = end

    def _number_of(self, sse_id: str) -> int | None:
        """The number of the buffered event with this SSE id, if it is buffered."""
        shared = bool(self._messages)
        prefix, _, text = sse_id.rpartition("." if shared else "-")
        if not text.isdigit():
            return None
        if shared:
            start = self._message_at.get(prefix)
            if start is None:
                return None
            number = start + int(text)
            at = bisect.bisect_right(self._messages, start, key=_FIRST) - 1
            if number >= self._message_end(at):
                return None  # past the message's last event
        elif prefix == self.epoch:
            number = int(text)
        else:
            return None
        return number if self._next - len(self._buffer) <= number < self._next else None

    def _message_end(self, i: int) -> int:
        """The number after the last event of the i-th buffered message."""
        return self._messages[i + 1][0] if i + 1 < len(self._messages) else self._next

    def _since(self, after: int) -> list[tuple[int, str, Envelope]]:
        oldest = self._next - len(self._buffer)
        first = max(after + 1, oldest)
        numbers = range(first, self._next)
        events = itertools.islice(self._buffer, first - oldest, None)
        return list(zip(numbers, self._ids(first), events, strict=True))


async def while_allowed(
    frames: AsyncGenerator[bytes, None],
    allowed: Callable[[], Awaitable[bool]],
    every: float,
) -> AsyncIterator[bytes]:
    """`frames` until the caller may no longer read them: `allowed()` is asked again at
    each keepalive and at least every `every` seconds while events flow, so a stream ends
    within about one keepalive interval of signing out, disabling the user or revoking the
    API key. A database that cannot answer does not end it (the check is retried)."""
    checked = time.monotonic()
    try:
        async for frame in frames:
            if b"event: keepalive\n" in frame or time.monotonic() - checked >= every:
                checked = time.monotonic()
                try:
                    still = await allowed()
                except StorageUnavailable as exc:  # the database is down: keep serving, ask again
                    log.warning("cannot re-check a live stream's caller: %s", exc)
                    still = True
                if not still:
                    return
            yield frame
    finally:
        await frames.aclose()


def _keepalive(every: float) -> bytes:
    """The keepalive frame: named (EventSource hands it to the page), without an `id`."""
    return b"event: keepalive\ndata: %s\n\n" % orjson.dumps({"every_s": every})


class Sent(msgspec.Struct, gc=False):
    """An event as the shared feed carried it (central/livefeed.py): its JSON, and its
    `type` for the SSE event name."""

    type: Any
    json: bytes | msgspec.Raw


def encode(event: Envelope) -> bytes:
    """An event as JSON: a decoded object as it was, a plain reading's record with the
    fields that were sent (null ones too), a shared feed's event as it came."""
    if type(event) is dict:
        return orjson.dumps(event)
    if type(event) is Sent:
        return bytes(event.json)
    return msgspec.json.encode(event)


def attribute(event: Envelope, name: str) -> Any:
    """A top-level attribute of an event (None when it has none)."""
    if type(event) is dict:
        return event.get(name)
    value = getattr(event, name, None)
    return None if value is msgspec.UNSET else value


def _frame(event_id: str, event: Envelope) -> bytes:
    """One SSE frame. No value may end a line early: a CR or LF in a field would let an
    event's sender add lines (a forged `data:` with another value) to everyone's stream.
    The event name is the type only when it is a valid one (else `message`), the id loses
    CR, LF and NUL, and the data is split into one `data:` line per line (SSE spec)."""
    kind = attribute(event, "type")
    name = kind if isinstance(kind, str) and valid_type(kind) else "message"
    return b"id: %s\nevent: %s\n%s\n" % (
        _one_line(event_id).encode(),
        name.encode(),
        _data_lines(encode(event)),
    )


def _one_line(value: str) -> str:
    return value.replace("\r", "").replace("\n", "").replace("\0", "")


def _data_lines(payload: bytes) -> bytes:
    """`data:` lines for `payload` (orjson writes none, but the framing does not rely on it)."""
    return b"".join(b"data: %s\n" % line for line in _NEWLINE.split(payload))
