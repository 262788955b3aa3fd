"""Two real central instances (uvicorn subprocesses) on one fresh PostgreSQL schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.central.conftest import Central, fresh_db, start_central
from tests.servers import wait_until


@dataclass
class Pair:
    a: Central
    b: Central
    db: str

    @property
    def both(self) -> tuple[Central, Central]:
        return self.a, self.b


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Pair]:
    """Instances A and B on one database, as behind a load balancer (no sticky sessions)."""
    workdir = tmp_path_factory.mktemp("scale")
    with fresh_db("postgres", workdir, postgres_url) as db:
        (workdir / "a").mkdir()
        (workdir / "b").mkdir()
        with (
            start_central(db, "postgres", workdir / "a", "--offline-after", "1s") as a,
            start_central(db, "postgres", workdir / "b", "--offline-after", "1s") as b,
        ):
            for central in (a, b):
                wait_until(lambda c=central: _ready(c), timeout=20)
            yield Pair(a, b, db)


def _ready(central: Central) -> bool:
    answer = central.client.get(f"{central.url}/readyz")
    return answer.status_code == 200


@dataclass
class Stream:
    """An SSE client in a thread: frames (id, event, data) as they arrive."""

    central: Central
    last_event_id: str | None = None
    frames: list[dict[str, str]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Stream:
        self._thread.start()
        assert self.connected.wait(15), "the stream never said ': connected'"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the thread ends at its next frame, or when central stops

    def _run(self) -> None:
        headers = {"authorization": f"Bearer {self.central.key()}"}
        if self.last_event_id:
            headers["last-event-id"] = self.last_event_id
        url = f"{self.central.url}/api/v1/stream"
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(30, read=60)) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                frame: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line == "" and frame:
                        self.frames.append(frame)
                        frame = {}
                    elif ":" in line and not line.startswith(":"):
                        key, _, value = line.partition(":")
                        frame[key] = value.strip()
        except httpx.HTTPError:
            return  # central stopped at the end of the module

    def about(self, text: str) -> list[dict[str, str]]:
        return [f for f in list(self.frames) if text in f.get("data", "")]
