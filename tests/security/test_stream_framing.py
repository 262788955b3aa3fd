"""Frames injected into the live stream (issue 13, item 2).

An event `type` holding CR/LF became extra SSE lines: a dashboard showed a freezer at
31.5 °C while the API said -80.0. The envelope now refuses such a type (central's ingest
and the edge intake), the intake's reserved types are whole families in any letter case,
and the stream's framing never writes a CR or LF inside a field, whatever reaches it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from central.stream import Hub, Sent
from edge.intake import to_entry
from runtime import events as ev
from runtime.errors import EnvelopeError
from tests.security.central_server import RunningCentral, central

FORGED = 'org.tracseq.note\r\nevent: org.tracseq.reading\r\ndata: {"value": 31.5}\r\n'
BAD_TYPES = [
    FORGED,
    "org.tracseq.note\n",  # Python's `$` would have matched before this newline
    "org.tracseq.note\rx",
    "org.tracseq.",
    "org.tracseq.a b",
    "org.tracseq.é",
    "org.tracseq." + "a" * 201,
    "org.tracseqx.note",
]


def envelope(type_: str, **extra: Any) -> dict[str, Any]:
    base = {"specversion": "1.0", "id": "lims:1", "source": "lims", "type": type_}
    return {**base, **extra}


@pytest.mark.parametrize("type_", BAD_TYPES)
def test_a_type_outside_the_pattern_is_an_envelope_error(type_: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        ev.parse(envelope(type_))
    assert caught.value.field == "type"


def test_types_of_the_pattern_parse() -> None:
    for type_ in (ev.READING, "org.tracseq.lims.sample_moved", "org.tracseq.A-1." + "b" * 190):
        assert ev.parse(envelope(type_)).type == type_


@pytest.mark.parametrize(
    "type_",
    [
        ev.READING,
        "org.tracseq.Reading",
        "org.tracseq.ALARM.RAISED",
        "org.tracseq.alarm.raised2",
        "org.tracseq.alarm.anything",
        "org.tracseq.gateway.heartbeat",
        "org.tracseq.sensor.described",
        "org.tracseq.analytics.status",
    ],
)
def test_the_intake_refuses_the_gateways_own_type_families_in_any_case(type_: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        to_entry(envelope(type_), time.time())
    assert caught.value.field == "type"


def test_the_intake_refuses_a_type_with_a_line_break() -> None:
    with pytest.raises(EnvelopeError):
        to_entry(envelope(FORGED), time.time())
    assert to_entry(envelope("org.tracseq.lims.note"), time.time()).type == "org.tracseq.lims.note"


def sse_events(stream: bytes) -> list[dict[str, list[str]]]:
    """Parse SSE as a browser does (lines end at CRLF, CR or LF; a blank line ends an event)."""
    out: list[dict[str, list[str]]] = []
    fields: dict[str, list[str]] = {}
    for line in re.split(r"\r\n|\r|\n", stream.decode()):
        if not line:
            if fields:
                out.append(fields)
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
    return out


def test_a_frame_never_carries_a_line_break_inside_a_field() -> None:
    """Whatever reaches the hub (an older row, the shared feed), each event is one frame."""
    sent = b'{"type": "org.tracseq.reading",\r\n "data": {"value": 1}}'  # as the feed carried it

    async def frames() -> bytes:
        hub = Hub(10)
        hub.deliver(
            [{"type": FORGED, "data": {"comment": "a\r\nb\rc\nd"}}, Sent(ev.READING, sent)],
            "1\r\nevent: x",  # the shared feed's message name
        )
        out = b""
        async for frame in hub.follow(f"{hub.epoch}.0-0", heartbeat=60):
            out += frame
            if b"x.1" in frame:
                return out
        return out

    got = [e for e in sse_events(asyncio.run(frames())) if "id" in e]
    assert [e["event"] for e in got] == [["message"], [ev.READING]]
    assert [e["id"] for e in got] == [["1event: x.0"], ["1event: x.1"]]
    assert len(got[0]["data"]) == 1
    assert orjson.loads(got[0]["data"][0])["data"]["comment"] == "a\r\nb\rc\nd"
    assert orjson.loads("\n".join(got[1]["data"])) == {"type": ev.READING, "data": {"value": 1}}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCentral]:
    with central(tmp_path_factory.mktemp("framing")) as c:
        yield c


def test_central_ingest_refuses_a_type_with_a_line_break(running: RunningCentral) -> None:
    import httpx

    token = running.token("frame-gw")
    forged = ev.edge_event("frame-gw", 1, ev.READING, time=time.time(), subject="f.t",
                           data={"value": -80.0}).to_dict()  # fmt: skip
    forged["type"] = FORGED
    answer = httpx.post(
        f"{running.url}/api/v1/ingest",
        content=orjson.dumps([forged]),
        headers={"authorization": f"Bearer {token}", "content-type": ev.BATCH_MEDIA_TYPE},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "type"
