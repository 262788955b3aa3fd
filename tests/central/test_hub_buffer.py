"""The live stream's buffer (`central.stream.Hub`): which events a client that reconnects
with Last-Event-ID gets, with ids numbered here and with the shared feed's ids, also
after the oldest events left the bounded buffer (then the client must reset)."""

from __future__ import annotations

from typing import Any

from central.stream import Hub, attribute


def _events(*numbers: int) -> list[dict[str, Any]]:
    return [{"id": f"gw-1:{n}", "type": "org.tracseq.reading"} for n in numbers]


def _after(hub: Hub, last_event_id: str | None) -> list[tuple[str, str]] | None:
    after = hub.resume_point(last_event_id)
    if after is None:
        return None
    return [(sse_id, attribute(event, "id")) for _, sse_id, event in hub._since(after)]


def test_ids_numbered_here_resume_while_buffered() -> None:
    hub = Hub(3)
    hub.publish(_events(1, 2))
    first = f"{hub.epoch}-1"
    assert _after(hub, first) == [(f"{hub.epoch}-2", "gw-1:2")]
    hub.publish(_events(3, 4))  # gw-1:1 leaves the buffer of 3
    assert _after(hub, first) is None  # missed events: reset
    assert _after(hub, f"{hub.epoch}-2") == [
        (f"{hub.epoch}-3", "gw-1:3"),
        (f"{hub.epoch}-4", "gw-1:4"),
    ]
    assert _after(hub, f"{hub.epoch}-4") == []
    assert _after(hub, f"{hub.epoch}-5") is None  # not sent yet: not ours
    assert _after(hub, "0badc0de-3") is None  # another process's epoch
    assert _after(hub, None) == []  # a new client starts from now
    assert hub._reset(4).startswith(f"id: {hub.epoch}-4\n".encode())


def test_shared_feed_ids_resume_while_buffered() -> None:
    hub = Hub(3)
    hub.deliver(_events(1, 2), "m1")
    hub.deliver([], "m2")  # a message with no events takes no number
    hub.deliver(_events(3, 4), "m3")
    assert _after(hub, "m1.0") is None  # left the buffer
    assert _after(hub, "m1.1") == [("m3.0", "gw-1:3"), ("m3.1", "gw-1:4")]
    assert _after(hub, "m3.0") == [("m3.1", "gw-1:4")]
    assert _after(hub, "m1.2") is None  # m1 had two events
    assert _after(hub, "m2.0") is None
    assert _after(hub, "m3.2") is None  # not sent yet
    assert _after(hub, f"{hub.epoch}-3") is None  # numbered ids are not this feed's
    assert hub._reset(4).startswith(b"id: m3.1\n")
    hub.deliver(_events(5, 6, 7), "m4")  # m1 and m3 leave the buffer entirely
    assert _after(hub, "m3.1") is None
    assert _after(hub, "m4.0") == [("m4.1", "gw-1:6"), ("m4.2", "gw-1:7")]
    assert list(hub._message_at) == ["m4"]
    hub.gap()
    assert _after(hub, "m4.2") is None
    hub.deliver(_events(8), "m5")
    assert _after(hub, "m5.0") == []
