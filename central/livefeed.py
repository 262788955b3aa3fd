"""The live stream shared by several central instances on one PostgreSQL (LISTEN/NOTIFY).

An instance that stores events does not hand them to its own SSE clients directly: it
queues them (after the transaction committed) and one task sends them with `pg_notify`
to a channel named for the schema. Every instance, this one included, LISTENs on that
channel and buffers what arrives for its SSE clients. PostgreSQL delivers notifications
in commit order, the same order to every listener, so all instances buffer the same
events in the same order under the same SSE ids (`<sender epoch>-<message>.<index>`): a
browser can reconnect to any instance behind a load balancer, no sticky sessions.

A notification carries at most ~7.9 kB (PostgreSQL's limit is 8,000 bytes), so events are
packed into as many notifications as needed, all sent in one transaction per round. An
event bigger than that alone is streamed without its `data` (`{"omitted": ...}`): the
query API has it. While the LISTEN connection is down the instance is not live (`/readyz`
says so, new SSE clients wait); when it is back every SSE client gets `event: reset`,
since events may have passed unseen.

The live stream is a view: events are announced after their transaction committed, so an
instance killed between the two loses the announcement, not the data.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import operator
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec
import orjson
import psycopg
from psycopg import sql

from central.storage.records import Envelope
from central.stream import Hub, Sent, attribute
from runtime.backoff import Backoff, RetryLog

log = logging.getLogger("tracseq.central.livefeed")

MAX_PAYLOAD = 7_900  # bytes of one notification (PostgreSQL: fewer than 8,000)
FIRST_TAKE = 16  # events tried in a round's first notification
MAX_ROUND = 5_000  # events per sending transaction
MAX_OUTBOX = 100_000  # events waiting to be sent while the database is away
CHECK_SECONDS = 30.0  # an idle LISTEN connection is checked this often

AsyncConn = psycopg.AsyncConnection[Any]


class _Note(msgspec.Struct):
    """A notification: the sender's message name, its events' types (for the SSE event
    names) and its events, each kept as the JSON it came in: read in one pass."""

    m: str
    e: list[msgspec.Raw]
    # None: sent by an instance of the previous release (during a rolling upgrade), whose
    # notifications carry no types; they are read from the events themselves.
    t: list[Any] | None = None


class _Type(msgspec.Struct):
    type: Any = None


class _Types(msgspec.Struct):
    e: list[_Type]


_note = msgspec.json.Decoder(_Note)
_TYPE = operator.attrgetter("type")
_types = msgspec.json.Decoder(_Types)


class SharedHub(Hub):
    """A Hub whose events go through PostgreSQL, so every instance streams them."""

    def __init__(self, size: int, url: str) -> None:
        super().__init__(size)
        self._url = url
        self._live.clear()
        self._outbox: deque[Envelope] = deque()
        self._pending = asyncio.Event()
        self._message = 0
        self._dropped = 0
        self.sent = 0  # notifications sent (for tests and metrics)

    def publish(self, events: Iterable[Envelope]) -> None:
        self._outbox.extend(events)
        if len(self._outbox) > MAX_OUTBOX:
            excess = len(self._outbox) - MAX_OUTBOX
            for _ in range(excess):
                self._outbox.popleft()
            if not self._dropped:
                log.warning("live feed: database unreachable, dropping the oldest live events")
            self._dropped += excess
        if self._outbox:
            self._pending.set()

    async def run(self) -> None:
        """Listen and send until cancelled, reconnecting while the database is away."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._listen())
            group.create_task(self._send())

    async def _connect(self) -> tuple[AsyncConn, str]:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5)
        cur = await conn.execute("SELECT current_schema()")
        row = await cur.fetchone()
        schema = str(row[0]) if row and row[0] else "public"
        return conn, f"tracseq:{schema}"[:63]

    async def _listen(self) -> None:
        backoff = Backoff(base=0.2, cap=10.0)
        retry = RetryLog(log, "listening for live events")
        first = True
        while True:
            try:
                conn, channel = await self._connect()
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    retry.succeeded()
                    backoff.reset()
                    if not first:
                        self.gap()
                    first = False
                    self._live.set()
                    while True:
                        async for note in conn.notifies(timeout=CHECK_SECONDS):
                            self._receive(note.payload)
                        await conn.execute("SELECT 1")  # idle: is the connection alive?
            except (psycopg.Error, OSError) as exc:
                self._live.clear()
                retry.failed(exc)
                await asyncio.sleep(backoff.next_delay())

    def _receive(self, payload: str) -> None:
        # Each event's JSON is kept as it came, its type sent beside it: no object per
        # field for events that may never be streamed.
        try:
            message = _note.decode(payload)
            types = message.t
            if types is None:
                types = list(map(_TYPE, _types.decode(payload).e))
        except msgspec.DecodeError as exc:
            log.warning("live feed: ignored a notification that is not ours (%s)", exc)
            return
        if len(types) != len(message.e):
            log.warning("live feed: ignored a notification that is not ours (types, events)")
            return
        self.deliver(list(map(Sent, types, message.e)), message.m)

    async def _send(self) -> None:
        backoff = Backoff(base=0.2, cap=10.0)
        retry = RetryLog(log, "sending live events")
        conn: AsyncConn | None = None
        channel = ""
        while True:
            await self._pending.wait()
            await self._live.wait()  # our own listener sees what we send
            try:
                if conn is None or conn.closed:
                    conn, channel = await self._connect()
                count = min(len(self._outbox), MAX_ROUND)
                events = list(itertools.islice(self._outbox, count))  # (indexing a deque: O(n))
                payloads = self._pack(events)
                # %b: a binary array. As text, psycopg escapes every quote of the JSON
                # payloads in Python: ~165 ms per 5,000 events on the event loop vs ~2 ms.
                await conn.execute(
                    "SELECT pg_notify(%s, p) FROM unnest(%b::text[]) WITH ORDINALITY AS u(p, n)"
                    " ORDER BY n",
                    (channel, payloads),
                )
            except (psycopg.Error, OSError) as exc:
                retry.failed(exc)
                if conn is not None:
                    await conn.close()
                conn = None
                await asyncio.sleep(backoff.next_delay())
                continue
            retry.succeeded()
            backoff.reset()
            self.sent += len(payloads)
            if count == len(self._outbox):
                self._outbox.clear()
            else:
                for _ in range(count):
                    self._outbox.popleft()
            if not self._outbox:
                self._pending.clear()

    def _pack(self, events: list[Envelope]) -> list[str]:
        """Events as notification payloads of at most MAX_PAYLOAD bytes, in order, each
        with the events' types beside them (so a receiver decodes it once). Each payload's
        events are written as one JSON array by one call (not one per event): as many as
        the previous array's mean size says fit, fewer when they do not. An event too big
        for a notification alone is streamed without its `data`."""
        payloads: list[str] = []
        types = [attribute(event, "type") for event in events]
        room = MAX_PAYLOAD - 50  # the rest: {"m":"<epoch>-<n>","t":...,"e":...}
        start, take = 0, FIRST_TAKE
        while start < len(events):
            chunk = events[start : start + take]
            names = msgspec.json.encode(types[start : start + take])
            array = msgspec.json.encode(chunk)
            size = len(names) + len(array)
            if size <= room:
                payloads.append(self._payload(names, array))
                start += len(chunk)
                take = max(1, len(chunk) * room // size)
            elif len(chunk) > 1:
                take = max(1, min(len(chunk) - 1, len(chunk) * room // size))
            else:
                slim = _without_data(chunk[0])
                payloads.append(
                    self._payload(orjson.dumps([slim.get("type")]), orjson.dumps([slim]))
                )
                start += 1
        return payloads

    def _payload(self, names: bytes, array: bytes) -> str:
        self._message += 1
        head = b'{"m":"%s-%d","t":' % (self.epoch.encode(), self._message)
        return (head + names + b',"e":' + array + b"}").decode()


def hub_for(db_url: str, size: int) -> Hub:
    """The shared hub on PostgreSQL; on SQLite (one instance only) the in-process one."""
    if db_url.startswith(("postgresql://", "postgres://")):
        return SharedHub(size, db_url)
    return Hub(size)


def _without_data(event: Envelope) -> dict[str, Any]:
    whole: dict[str, Any] = event if type(event) is dict else msgspec.to_builtins(event)
    slim: dict[str, Any] = {
        k: v for k, v in whole.items() if k != "data" and isinstance(v, str) and len(v) < 512
    }
    slim["data"] = {"omitted": "too large for the live stream; read it from the query API"}
    return slim
