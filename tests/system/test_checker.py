"""The fault suite's checker itself: what it reads at different moments must not turn a
delivery that raced the check into a disagreement."""

from __future__ import annotations

import redis

from tests import servers
from tests.system.checker import Report, _check_stream
from tests.system.stack import GATEWAY


def test_event_synced_while_checking_is_not_reported_missing_from_the_stream(
    redis_server: servers.Server,
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    for seq in (1, 2, 3):
        client.xadd("tracseq:events", {"id": f"{GATEWAY}:{seq}"})
    client.close()
    # The sync cursor was read at 2; event 3 reached central (and the stream) right after.
    report = Report()
    central = {f"{GATEWAY}:{seq}" for seq in (1, 2, 3)}
    _check_stream(report, url, central, synced_upto=2, published_upto=3)
    assert report.stream_problems == []
    assert report.stream_events == 2 and report.stream_pending == 0


def test_event_in_central_but_never_published_is_reported(
    redis_server: servers.Server,
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    for seq in (1, 3):
        client.xadd("tracseq:events", {"id": f"{GATEWAY}:{seq}"})
    client.close()
    report = Report()
    central = {f"{GATEWAY}:{seq}" for seq in (1, 2, 3)}
    _check_stream(report, url, central, synced_upto=3, published_upto=3)
    assert report.stream_problems == [f"{GATEWAY}:2 in central (seq >= 1), not on the stream"]
