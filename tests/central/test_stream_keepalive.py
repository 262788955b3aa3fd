"""Keepalive events on the live stream: named (the page sees them), without an `id`, every
`--sse-keepalive` while nothing else goes out -- also while waiting for the shared feed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from central.livefeed import SharedHub
from tests.central.conftest import Central, fresh_db, gateway_name, reading, run_cli, start_central
from tests.servers import wait_until


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Central]:
    """A central on SQLite whose idle stream sends a keepalive every 300 ms."""
    workdir = tmp_path_factory.mktemp("central-keepalive")
    with (
        fresh_db("sqlite", workdir, postgres_url) as db,
        start_central(db, "sqlite", workdir, "--sse-keepalive", "300ms") as central,
    ):
        yield central


class Frames:
    """The stream's frames (field -> value; comments under ":") read in a thread."""

    def __init__(self, central: Central) -> None:
        self.frames: list[dict[str, str]] = []
        self._central = central
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Frames:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the thread ends at its next line (a keepalive is never far)
        self._thread.join(10)

    def _read(self) -> None:
        headers = {"authorization": f"Bearer {self._central.key()}"}
        url = f"{self._central.url}/api/v1/stream"
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            frame: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line == "":
                    if frame:
                        self.frames.append(frame)
                    frame = {}
                elif line.startswith(":"):
                    frame[":"] = line[1:].strip()
                else:
                    key, _, value = line.partition(":")
                    frame[key] = value.strip()

    def of(self, kind: str) -> list[dict[str, str]]:
        return [f for f in list(self.frames) if f.get("event") == kind]


def test_idle_stream_sends_keepalive_events_without_an_id(quick: Central) -> None:
    gw = gateway_name()
    with Frames(quick) as stream:
        wait_until(lambda: len(stream.of("keepalive")) >= 4, timeout=15)
        quick.ingest(quick.token(gw), [reading(gw, 1, f"{gw}.s", 1.0)])
        wait_until(lambda: any(gw in f.get("data", "") for f in stream.frames), timeout=15)
        seen = len(stream.of("keepalive"))
        wait_until(lambda: len(stream.of("keepalive")) >= seen + 2, timeout=15)
    first = stream.frames[0]
    assert first.get("event") == "keepalive"  # the page learns the interval at once
    for frame in stream.of("keepalive"):
        assert "id" not in frame  # Last-Event-ID stays on the last real event
        assert orjson.loads(frame["data"]) == {"every_s": 0.3}
    event = next(f for f in stream.frames if gw in f.get("data", ""))
    assert event["id"] and event["event"] == "org.tracseq.reading"
    assert not any(f.get(":") == "heartbeat" for f in stream.frames)


async def test_keepalive_events_while_waiting_for_the_shared_feed() -> None:
    # Not running: the feed never listens, as when PostgreSQL is unreachable.
    hub = SharedHub(10, "postgresql://127.0.0.1:1/nowhere")
    assert not hub.live
    frames = hub.follow(None, heartbeat=0.05)
    try:
        got = [await anext(frames) for _ in range(3)]
    finally:
        await frames.aclose()
    keepalive = b'event: keepalive\ndata: {"every_s":0.05}\n\n'
    assert got[0] == keepalive
    assert got[1] == got[2] == b": waiting for the live feed\n\n" + keepalive


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "--sse-keepalive: invalid duration 'soon'"),
        ("0s", "--sse-keepalive: must be between 100ms and 1h"),
        ("2h", "--sse-keepalive: must be between 100ms and 1h"),
    ],
)
def test_bad_keepalive_exits_2_naming_the_option(value: str, message: str) -> None:
    code, _, err = run_cli("--sse-keepalive", value, "--db", "sqlite:///unused.db")
    assert code == 2
    assert message in err
    assert "Traceback" not in err
