"""A loopback TCP proxy that can silently drop every connection, as a NAT or proxy that
forgot them would: no FIN, no RST, the bytes just stop -- in both directions.

`black_hole()` kills the connections open at that moment and those opened while it lasts;
their sockets stay open and whatever arrives on them is thrown away. After `restore()` new
connections pass again; a dead one is reset when the client next sends on it, as the far
end would answer a segment of a connection it no longer knows.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class _Link:
    """One client connection and its connection upstream."""

    def __init__(self, client: socket.socket, upstream: socket.socket, dead: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.dead = dead

    def close(self, reset: bool = False) -> None:
        if reset:  # SO_LINGER 0: close() sends RST
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)  # wakes the other pump's recv()
            sock.close()


class BlackHoleProxy:
    """127.0.0.1:<port> -> 127.0.0.1:<upstream_port>, one thread per direction."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._holed = False
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BlackHoleProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            links = list(self._links)
        self._listener.close()
        for link in links:
            link.close()
        for thread in self._threads:
            thread.join(5)

    def black_hole(self) -> None:
        with self._lock:
            self._holed = True
            for link in self._links:
                link.dead = True

    def restore(self) -> None:
        with self._lock:
            self._holed = False

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                link = _Link(client, upstream, dead=self._holed)
                self._links.append(link)
            self._spawn(self._from_client, link)
            self._spawn(self._from_upstream, link)

    def _from_client(self, link: _Link) -> None:
        while True:
            try:
                data = link.client.recv(65536)
            except OSError:
                return
            with self._lock:
                dead, holed = link.dead, self._holed
            if dead and not holed and data:
                link.close(reset=True)
                return
            if not data:
                if not dead:
                    link.close()
                return
            if dead:
                continue
            try:
                link.upstream.sendall(data)
            except OSError:
                return

    def _from_upstream(self, link: _Link) -> None:
        while True:
            try:
                data = link.upstream.recv(65536)
            except OSError:
                return
            with self._lock:
                dead = link.dead
            if not data:
                if not dead:  # a dead link keeps the client's socket open: no FIN
                    link.close()
                return
            if dead:
                continue
            try:
                link.client.sendall(data)
            except OSError:
                return
