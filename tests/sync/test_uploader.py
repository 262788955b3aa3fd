"""The uploader against a real (fake) central on real uvicorn: delivery, retries, bisection."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from edge.entry import Entry
from sync.uploader import LAST_OK_KEY
from tests.sync.conftest import (
    GATEWAY,
    fast_uploader,
    opened_log,
    readings,
    run,
    running,
    sync_config,
    until,
)
from tests.sync.fake_central import FakeCentral, Fault, make_tls, write_token


def _every_id(first: int, last: int) -> set[str]:
    return {f"{GATEWAY}:{seq}" for seq in range(first, last + 1)}


def test_every_reading_is_stored_once_and_the_cursor_follows(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=500)

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(1200))
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: log.cursor("sync") == 1200)
                await log.append(readings(7, start=5000))  # a trickle after the backlog
                await until(lambda: log.cursor("sync") == 1207)
                assert uploader.lag() == 0.0
                assert uploader.health().state == "connected"
                assert uploader.health().counters["pending"] == 0
            assert float(log.state(LAST_OK_KEY)[LAST_OK_KEY].decode()) > 0

    run(scenario)
    assert set(central.stored) == _every_id(1, 1207)
    assert max(central.deliveries.values()) == 1
    event = central.stored[f"{GATEWAY}:1"]
    assert event["source"] == f"tracseq-edge/{GATEWAY}"
    assert event["data"]["seq"] == 1 and "received" in event["data"]


def test_server_errors_and_429_are_retried_until_stored(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=100)
    central.faults.extend(
        [Fault(500), Fault(503, {"Retry-After": "0"}), Fault(429, {"Retry-After": "0"})]
    )

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(250))
            async with running(fast_uploader(config, log, in_flight=1)):
                await until(lambda: log.cursor("sync") == 250)

    run(scenario)
    assert central.statuses[:3] == [500, 503, 429]
    assert set(central.stored) == _every_id(1, 250)


def test_outage_holds_the_cursor_and_the_backlog_drains_after(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=200)

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await log.append(readings(100))
                await until(lambda: log.cursor("sync") == 100)
                central.stop()
                await log.append(readings(1500, start=100))
                await until(lambda: uploader.health().state == "disconnected")
                assert log.cursor("sync") == 100
                assert uploader.lag() > 0
                central.start()
                await until(lambda: log.cursor("sync") == 1600)
                assert uploader.lag() == 0.0

    run(scenario)
    assert set(central.stored) == _every_id(1, 1600)


def test_a_bad_event_is_quarantined_and_the_rest_flows(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=1000)
    poisoned = readings(1000)
    poisoned[637].data["value"] = "hot"  # central answers 400 naming index 637, data.value

    counted = _sample("tracseq_sync_quarantined_total")

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(poisoned)
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: log.cursor("sync") == 1000)
                assert uploader.health().counters["quarantined"] == 1
                assert _sample("tracseq_sync_quarantined_total") == counted + 1
                assert _sample("tracseq_edge_log_pending_events", cursor="sync") == 0
            rows = _quarantine(log.path)
            assert [seq for seq, _, _ in rows] == [638]
            assert b'"hot"' in rows[0][1] and "data.value" in rows[0][2]

    run(scenario)
    assert set(central.stored) == _every_id(1, 1000) - {f"{GATEWAY}:638"}


def test_a_400_naming_no_event_is_kept_and_retried_never_quarantined(
    tmp_path: Path, central: FakeCentral, caplog: pytest.LogCaptureFixture
) -> None:
    # A 400 about the request as a whole says nothing about any one event: were it split
    # down to single events, a central (or proxy) answering so would quarantine them all.
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=100)
    central.refusing = "body is not JSON: unexpected character: line 1 column 1 (char 0)"
    refused = _sample("tracseq_sync_batches_total", result="refused")

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(100))
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: central.statuses.count(400) >= 20)
                assert uploader.state.quarantined == 0
                assert log.cursor("sync") == 0
                health = uploader.health()
                assert health.state == "degraded"
                assert "body is not JSON" in (health.detail or "")
                # central counts its answer before the uploader has read it
                await until(
                    lambda: _sample("tracseq_sync_batches_total", result="refused") >= refused + 20
                )
                central.refusing = None
                await until(lambda: log.cursor("sync") == 100)
                assert uploader.health().state == "connected"
            assert _quarantine(log.path) == []

    with caplog.at_level(logging.ERROR, logger="tracseq.sync"):
        run(scenario)
    assert set(central.stored) == _every_id(1, 100)
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("CENTRAL REFUSES" in m and "body is not JSON" in m for m in loud), loud


def test_an_entry_that_cannot_be_encoded_is_quarantined_at_the_edge(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token)
    entries = readings(10)
    entries[4] = Entry(entries[4].type, "x", 1e300, entries[4].received, {"value": 1.0})

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(entries)
            async with running(fast_uploader(config, log)):
                await until(lambda: log.cursor("sync") == 10)
            assert [seq for seq, _, _ in _quarantine(log.path)] == [5]

    run(scenario)
    assert set(central.stored) == _every_id(1, 10) - {f"{GATEWAY}:5"}


def test_too_large_batches_are_split_not_quarantined(tmp_path: Path) -> None:
    central = FakeCentral(max_events=60)
    central.start()
    try:
        token = write_token(tmp_path / "token", central.token)
        config = sync_config(tmp_path, central.url, token, batch_max=500)

        async def scenario() -> None:
            async with opened_log(tmp_path) as log:
                await log.append(readings(500))
                uploader = fast_uploader(config, log)
                async with running(uploader):
                    await until(lambda: log.cursor("sync") == 500)
                assert uploader.state.quarantined == 0

        run(scenario)
    finally:
        central.stop()
    assert 413 in central.statuses
    assert set(central.stored) == _every_id(1, 500)


def test_missing_token_is_retried_until_the_operator_provisions_it(
    tmp_path: Path, central: FakeCentral
) -> None:
    token_file = tmp_path / "token"  # not there yet
    config = sync_config(tmp_path, central.url, token_file)

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(50))
            uploader = fast_uploader(config, log)
            async with running(uploader):
                await until(lambda: uploader.health().state == "degraded")
                write_token(token_file, "wrong")
                await until(lambda: 401 in central.statuses)
                assert log.cursor("sync") == 0
                write_token(token_file, central.token)
                await until(lambda: log.cursor("sync") == 50)

    run(scenario)
    assert set(central.stored) == _every_id(1, 50)


def test_restarted_uploader_resends_only_what_was_not_acknowledged(
    tmp_path: Path, central: FakeCentral
) -> None:
    token = write_token(tmp_path / "token", central.token)
    config = sync_config(tmp_path, central.url, token, batch_max=100)

    async def scenario() -> None:
        async with opened_log(tmp_path) as log:
            await log.append(readings(300))
            async with running(fast_uploader(config, log)):
                await until(lambda: log.cursor("sync") == 300)
        async with opened_log(tmp_path) as log:
            assert log.cursor("sync") == 300
            await log.append(readings(100, start=300))
            async with running(fast_uploader(config, log)):
                await until(lambda: log.cursor("sync") == 400)

    run(scenario)
    assert set(central.stored) == _every_id(1, 400)
    assert max(central.deliveries.values()) == 1


def test_tls_is_verified_against_the_configured_ca(tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path)
    central = FakeCentral(tls=(cert, key))
    central.start()
    try:
        token = write_token(tmp_path / "token", central.token)
        untrusted = sync_config(tmp_path, central.url, token)
        trusted = untrusted.model_copy(
            update={"sync": untrusted.sync.model_copy(update={"ca_file": ca})}  # type: ignore[union-attr]
        )

        async def scenario() -> None:
            async with opened_log(tmp_path) as log:
                await log.append(readings(20))
                uploader = fast_uploader(untrusted, log)
                async with running(uploader):
                    await until(lambda: "CERTIFICATE_VERIFY_FAILED" in uploader.health().detail)
                    assert log.cursor("sync") == 0
                async with running(fast_uploader(trusted, log)):
                    await until(lambda: log.cursor("sync") == 20)

        run(scenario)
    finally:
        central.stop()
    assert set(central.stored) == _every_id(1, 20)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _quarantine(path: Path) -> list[tuple[int, bytes, str]]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return [
            (seq, bytes(event), reason)
            for seq, event, reason in conn.execute(
                "SELECT seq, event, reason FROM quarantine ORDER BY seq"
            )
        ]
