"""Ingest on a real central (uvicorn subprocess), the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from runtime import events as ev
from tests.central.conftest import Central, event, gateway_name, reading, run_cli

START = time.time() - 3600


def batch(gateway: str, seqs: range, sensor: str | None = None) -> list[dict[str, object]]:
    # A resent event has the time it was stored with: on PostgreSQL the key is (id, time).
    # Each gateway its own sensor: a sensor belongs to the first gateway that wrote it.
    name = sensor if sensor is not None else f"{gateway}.ult-1.temp"
    return [reading(gateway, seq, name, -80.0 + seq / 100, at=START + seq) for seq in seqs]


def test_same_batch_three_times_stores_each_event_once(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    events = batch(gw, range(1, 101))
    answers = [central.ingest(token, events).json() for _ in range(3)]
    assert answers == [
        {"accepted": 100, "duplicates": 0},
        {"accepted": 0, "duplicates": 100},
        {"accepted": 0, "duplicates": 100},
    ]
    assert central.count("readings", "gateway = ?", (gw,)) == 100


def test_overlapping_batches_store_each_event_once(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    first = central.ingest(token, batch(gw, range(1, 61)))
    second = central.ingest(token, batch(gw, range(41, 101)))
    assert first.json() == {"accepted": 60, "duplicates": 0}
    assert second.json() == {"accepted": 40, "duplicates": 20}
    assert central.count("readings", "gateway = ?", (gw,)) == 100


def test_gzip_batch_is_stored(central: Central) -> None:
    gw = gateway_name()
    body = gzip.compress(orjson.dumps(batch(gw, range(1, 51))))
    answer = central.ingest(central.token(gw), body, headers={"content-encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 50, "duplicates": 0}


def test_events_that_are_not_readings_go_to_the_events_table(central: Central) -> None:
    gw = gateway_name()
    events = [
        event(gw, 1, ev.GATEWAY_STARTED, version="1.0", config_hash="abc"),
        event(gw, 2, ev.GATEWAY_HEARTBEAT, uptime_s=60, pending=7),
        reading(gw, 3, "f.temp", -80),
    ]
    assert central.ingest(central.token(gw), events).json() == {"accepted": 3, "duplicates": 0}
    assert central.count("events", "gateway = ?", (gw,)) == 2
    assert central.count("readings", "gateway = ?", (gw,)) == 1
    mine = [g for g in central.get("/api/v1/gateways").json()["gateways"] if g["id"] == gw]
    assert mine[0]["version"] == "1.0"
    assert mine[0]["pending"] == 7
    assert mine[0]["last_seq"] == 3


def test_missing_or_unknown_token_is_401_and_nothing_stored(central: Central) -> None:
    gw = gateway_name()
    assert central.ingest(None, batch(gw, range(1, 3))).status_code == 401
    assert central.ingest("tsg_not-a-token", batch(gw, range(1, 3))).status_code == 401
    assert central.count("readings", "gateway = ?", (gw,)) == 0


def test_token_writing_another_gateways_events_is_403_and_nothing_stored(
    central: Central,
) -> None:
    mine, theirs = gateway_name(), gateway_name()
    token = central.token(mine)
    mixed = batch(mine, range(1, 4)) + batch(theirs, range(1, 2))
    answer = central.ingest(token, mixed)
    assert answer.status_code == 403
    assert answer.json()["errors"] == [
        {"index": 3, "field": "source", "message": answer.json()["errors"][0]["message"]}
    ]
    assert central.count("readings", "gateway IN (?, ?)", (mine, theirs)) == 0


def test_api_key_cannot_ingest(central: Central) -> None:
    gw = gateway_name()
    assert central.ingest(central.key("admin"), batch(gw, range(1, 2))).status_code == 403


def test_invalid_events_are_listed_by_index_and_field_and_nothing_is_stored(
    central: Central,
) -> None:
    gw = gateway_name()
    events = batch(gw, range(1, 11))
    events[2]["data"]["value"] = "hot"  # type: ignore[index]
    del events[5]["id"]
    events[7]["time"] = "yesterday"
    events[8]["data"]["seq"] = 99  # type: ignore[index]  # id says 9
    answer = central.ingest(central.token(gw), events)
    assert answer.status_code == 400
    found = [(e["index"], e["field"]) for e in answer.json()["errors"]]
    assert found == [(2, "data.value"), (5, "id"), (7, "time"), (8, "id")]
    assert central.count("readings", "gateway = ?", (gw,)) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[{not json", "not JSON"),
        (b'{"specversion": "1.0"}', "array"),
        (b"", "not JSON"),
    ],
)
def test_malformed_bodies_are_400(central: Central, body: bytes, why: str) -> None:
    answer = central.ingest(central.token(gateway_name()), body)
    assert answer.status_code == 400
    assert why in answer.json()["error"]


def test_wrong_types_name_the_field(central: Central) -> None:
    gw = gateway_name()
    bad = batch(gw, range(1, 2))
    bad[0]["subject"] = 42
    answer = central.ingest(central.token(gw), bad)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "subject"


def test_wrong_content_type_is_415(central: Central) -> None:
    gw = gateway_name()
    answer = central.ingest(
        central.token(gw), batch(gw, range(1, 2)), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415


def test_ten_megabytes_of_json_is_413_and_service_stays_up(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    body = b"[" + b" " * (10 * 1000 * 1000) + b"]"
    assert central.ingest(token, body).status_code == 413
    assert central.ingest(token, batch(gw, range(1, 2))).status_code == 200


@pytest.fixture(scope="session")
def gzip_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """1 GiB of JSON whitespace, gzipped to about 1 MB."""
    path: Path = tmp_path_factory.mktemp("bomb") / "bomb.json.gz"
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [squeeze.compress(b"[")]
    parts += [squeeze.compress(chunk) for _ in range(1024)]
    parts += [squeeze.compress(b"]"), squeeze.flush()]
    path.write_bytes(b"".join(parts))
    return path.read_bytes()


def test_gzip_bomb_is_413_and_service_stays_up(central: Central, gzip_bomb: bytes) -> None:
    gw = gateway_name()
    token = central.token(gw)
    answer = central.ingest(token, gzip_bomb, headers={"content-encoding": "gzip"})
    assert answer.status_code == 413
    assert "decompressed" in answer.json()["error"]
    assert central.ingest(token, batch(gw, range(1, 2))).status_code == 200


def test_corrupt_gzip_is_400(central: Central) -> None:
    gw = gateway_name()
    body = gzip.compress(orjson.dumps(batch(gw, range(1, 5))))[:-20]
    answer = central.ingest(central.token(gw), body, headers={"content-encoding": "gzip"})
    assert answer.status_code == 400


def test_metrics_count_accepted_duplicate_and_invalid_events(central: Central) -> None:
    text = central.client.get(f"{central.url}/metrics").text
    assert "tracseq_central_ingest_events_total" in text
    assert 'tracseq_central_ingest_requests_total{status="200"}' in text


def test_oversized_chunked_body_without_length_is_413(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)

    def body() -> Iterator[bytes]:
        yield b"["
        for _ in range(100):
            yield b" " * 100_000  # 10 MB in all, no Content-Length (chunked)
        yield b"]"

    headers = {"authorization": f"Bearer {token}", "content-type": ev.BATCH_MEDIA_TYPE}
    try:
        answer = central.client.post(
            f"{central.url}/api/v1/ingest", content=body(), headers=headers
        )
    except httpx.TransportError:
        answer = None  # central may close the connection while the client still writes
    assert answer is None or answer.status_code == 413
    assert central.ingest(token, batch(gw, range(1, 2))).status_code == 200


def test_analytics_token_writes_analytics_events_only(central: Central) -> None:
    gw = gateway_name()
    sensor = f"{gw}.ult"
    central.ingest(central.token(gw), [reading(gw, 1, sensor, -80.0)])
    code, out, err = run_cli("token", "create", "an-1", "--analytics", "--db", central.db)
    assert code == 0, err
    status = ev.CloudEvent(
        id=f"an-1:{gw}:1",
        source="tracseq-analytics/an-1",
        type=ev.ANALYTICS_STATUS,
        time=time.time(),
        subject=sensor,
        data={"sensor": sensor, "status": "warning", "previous": "normal", "value": -71.0},
    ).to_dict()
    token = out.split()[-1]
    assert central.ingest(token, [status]).json() == {"accepted": 1, "duplicates": 0}
    twin = {s["id"]: s for s in central.get("/api/v1/sensors").json()["sensors"]}[sensor]
    assert twin["analytics_status"] == "warning" and twin["status"] == "warning"
    assert central.ingest(token, [reading(gw, 2, sensor, 1.0)]).status_code == 403


def test_duplicates_inside_a_large_batch_are_counted_exactly(central: Central) -> None:
    gw = gateway_name()
    token = central.token(gw)
    assert central.ingest(token, batch(gw, range(1100, 1151))).json()["accepted"] == 51
    events = batch(gw, range(1, 1201))
    events.append(events[699])  # the same event twice in one batch
    answer = central.ingest(token, events)
    assert answer.json() == {"accepted": 1149, "duplicates": 52}
    assert central.count("readings", "gateway = ?", (gw,)) == 1200


def test_concurrent_overlapping_batches_store_each_event_once(central: Central) -> None:
    from concurrent.futures import ThreadPoolExecutor

    gw = gateway_name()
    token = central.token(gw)
    ranges = [range(start, start + 300) for start in range(1, 1200, 100)]  # each overlaps 2

    def send(seqs: range) -> dict[str, int]:
        while True:
            answer = central.ingest(token, batch(gw, seqs))
            if answer.status_code == 200:
                return dict(answer.json())
            assert answer.status_code == 503, answer.text

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, ranges))
    distinct = len({seq for seqs in ranges for seq in seqs})
    assert sum(a["accepted"] for a in answers) == distinct
    assert sum(a["accepted"] + a["duplicates"] for a in answers) == 300 * len(ranges)
    assert central.count("readings", "gateway = ?", (gw,)) == distinct
