"""A minimal HTTP/1.1 client for load generators: one kept-alive connection, pre-built POSTs.

httpx costs ~50 µs of CPU per ingested event at 250 events per request on this machine
(httpcore, anyio and h11 per request), about as much as central spends on the event; on a
2-core machine that generator takes the CPU central is being measured with. This client
writes a request whose head and body are bytes built before the clock starts and reads the
status line, the headers and a `Content-Length` body: a few µs per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


class Dropped(ConnectionError):
    """The connection closed before a whole response came back (the request may be resent)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def request_head(method: str, path: str, host: str, headers: dict[str, str], length: int) -> bytes:
    """The request line and headers of a request with a `length`-byte body."""
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}", f"content-length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    """One kept-alive connection to `host:port`, reopened after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, head: bytes, body: bytes) -> Answer:
        """Send one request and read its answer; raises Dropped when the connection closed."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        try:
            self._writer.write(head + body)
            raw = await self._reader.readuntil(b"\r\n\r\n")
            status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            content = await self._reader.readexactly(int(headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise Dropped(str(exc)) from exc
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(int(status_line.split(" ", 2)[1]), headers, content)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
