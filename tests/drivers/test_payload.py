"""The MQTT payload decoder: malformed input is rejected with a reason, never raised;
valid shapes decode to the exact value and time."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.payload import Decoded, Router, decode, epoch
from edgeconfig import Sensor
from tests.drivers.mqtt_support import contract_sensors

UTC_ZONE = ZoneInfo("UTC")


def extra_sensors() -> list[Sensor]:
    base = contract_sensors()[0]
    return [
        base.model_copy(
            update={
                "id": "{room}.plain",
                "source": base.source.model_copy(update={"topic": "plain/{room}", "value": None}),
            }
        ),
        base.model_copy(
            update={
                "id": "{room}.door",
                "quantity": "door",
                "unit": "open",
                "source": base.source.model_copy(
                    update={"topic": "doors/{room}/state", "value": None}
                ),
            }
        ),
    ]


def all_sensors() -> list[Sensor]:
    return contract_sensors() + extra_sensors()


ROUTER = Router(all_sensors())


def run(topic: str, payload: bytes, dup: bool = False, received: float = 1.8e9) -> Decoded:
    out = Decoded()
    decode(
        topic,
        payload,
        ROUTER.match(topic),
        received=received,
        dup=dup,
        zone=UTC_ZONE,
        out=out,
    )
    return out


ULT = "lab3/ult/F12/telemetry"
TASMOTA = "tele/incubator-3/SENSOR"
Z2M = "zigbee2mqtt/freezer-20a"
PLAIN = "plain/room-1"
DOOR = "doors/room-1/state"
_rng = random.Random(7)
GARBAGE = bytes(_rng.randrange(256) for _ in range(200))

# (topic, payload, a part of the reason)
MALFORMED: list[tuple[str, bytes, str]] = [
    # bad JSON
    (ULT, b"not json", "not valid JSON"),
    (ULT, b"{", "not valid JSON"),
    (ULT, b"", "not valid JSON"),
    (ULT, b'{"temp_c": }', "not valid JSON"),
    (ULT, b'{"temp_c": -80.2', "not valid JSON"),
    (ULT, b'{"temp_c": -80.2}}', "not valid JSON"),
    (ULT, b'{"temp_c": -80.2} {"temp_c": 1}', "not valid JSON"),
    (ULT, b"{'temp_c': -80.2}", "not valid JSON"),
    (ULT, b'\xef\xbb\xbf{"temp_c": -80.2}', "not valid JSON"),
    (ULT, '{"temp_c": -80.2}'.encode("utf-16"), "not valid JSON"),
    (ULT, b"[" * 5000, "not valid JSON"),
    (ULT, b'{"temp_c": 1e400}', "not valid JSON"),
    # NaN / infinity
    (ULT, b'{"temp_c": NaN}', "not valid JSON"),
    (ULT, b'{"temp_c": Infinity}', "not valid JSON"),
    (ULT, b'{"temp_c": "NaN"}', "field temp_c 'NaN' is not a finite number"),
    (ULT, b'{"temp_c": "inf"}', "not a finite number"),
    (ULT, b'{"temp_c": "-Infinity"}', "not a finite number"),
    (PLAIN, b"nan", "not a finite number"),
    (PLAIN, b"1e999", "not a finite number"),
    (PLAIN, b"-inf", "not a finite number"),
    # wrong types
    (ULT, b'{"temp_c": "abc"}', "field temp_c 'abc' is not a number"),
    (ULT, b'{"temp_c": null}', "field temp_c is null"),
    (ULT, b'{"temp_c": [1, 2]}', "field temp_c is a list"),
    (ULT, b'{"temp_c": {"v": 1}}', "field temp_c is an object"),
    (ULT, b'{"temp_c": ""}', "is not a number"),
    (ULT, b'{"temp_c": "12 degrees"}', "is not a number"),
    (ULT, b'{"temp_c": "1_000"}', "not a finite number"),
    (ULT, b'{"temp_c": true}', "field temp_c is true, not a number"),
    (Z2M, b'{"temperature": "-19,6"}', "field temperature '-19,6' is not a number"),
    (Z2M, b'{"temperature": "ON"}', "is not a number"),
    (Z2M, b'{"temperature": false}', "is false, not a number"),
    (TASMOTA, b'{"DS18B20": {"Temperature": "hot"}}', "field DS18B20.Temperature"),
    (TASMOTA, b'{"DS18B20": {"Temperature": null}}', "field DS18B20.Temperature is null"),
    (PLAIN, b"abc", "payload 'abc' is not a number"),
    (PLAIN, b"-80.2 C", "is not a number"),
    (PLAIN, b'{"v": 1}', "is JSON, not a plain value"),
    (PLAIN, b"[1]", "is JSON, not a plain value"),
    (PLAIN, b"ON", "is not a number"),  # a state word for a temperature
    (DOOR, b"MAYBE", "payload 'MAYBE' is not a number"),
    (DOOR, b"ajar", "is not a number"),
    # missing keys
    (ULT, b'{"temp": -80.2}', "field temp_c missing"),
    (ULT, b"{}", "field temp_c missing"),
    (ULT, b"[]", "field temp_c missing"),
    (ULT, b"[-80.2]", "field temp_c missing"),
    (ULT, b'"-80.2"', "field temp_c missing"),
    (ULT, b"-80.2", "field temp_c missing"),
    (ULT, b"null", "field temp_c missing"),
    (TASMOTA, b'{"DS18B20": {}}', "field DS18B20.Temperature missing"),
    (TASMOTA, b'{"DS18B20": 37.1}', "field DS18B20.Temperature missing"),
    (TASMOTA, b'{"DS18B20": [37.1]}', "field DS18B20.Temperature missing"),
    (TASMOTA, b'{"Time": "2026-11-24T10:00:00"}', "field DS18B20.Temperature missing"),
    (Z2M, b'{"battery": 97, "linkquality": 132}', "field temperature missing"),
    # empty, binary garbage, huge
    (PLAIN, b"", "payload is empty"),
    (PLAIN, b"   \n", "payload is empty"),
    (PLAIN, b"\xff\xfe\x00", "payload is not UTF-8 text"),
    (PLAIN, GARBAGE, "payload"),
    (ULT, GARBAGE, "not valid JSON"),
    (ULT, b"\x00\x01\x02\x03", "not valid JSON"),
    (ULT, b'{"temp_c": ' + b"1" * 70_000 + b"}", "over the 65536-byte limit"),
    (PLAIN, b" " * (1024 * 1024), "over the 65536-byte limit"),
    # wrong topic levels
    ("lab3/ult/F 12/telemetry", b'{"temp_c": -80.2}', "{freezer}='F 12' is not a valid"),
    ("lab3/ult/F{12}/telemetry", b'{"temp_c": -80.2}', "is not a valid sensor id part"),
    ("lab3/ult/Fé/telemetry", b'{"temp_c": -80.2}', "is not a valid sensor id part"),
    ("lab3/ult//telemetry", b'{"temp_c": -80.2}', "{freezer}='' is not a valid"),
    ("lab3/ult/" + "F" * 200 + "/telemetry", b'{"temp_c": -80.2}', "longer than 128"),
    ("lab3/ult/F12/telemetry/extra", b'{"temp_c": -80.2}', "no configured sensor matches"),
    ("lab3/ult/telemetry", b'{"temp_c": -80.2}', "no configured sensor matches"),
    ("zigbee2mqtt/freezer-20b", b'{"temperature": -19.6}', "no configured sensor matches"),
]


def test_the_table_has_at_least_fifty_kinds() -> None:
    assert len(MALFORMED) >= 50
    assert len({(t, p) for t, p, _ in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize(("topic", "payload", "reason"), MALFORMED)
def test_malformed_input_is_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    out = run(topic, payload)
    assert out.readings == []
    assert len(out.rejects) == 1
    reject = out.rejects[0]
    assert reject.source == f"mqtt:{topic}"
    assert reject.reason.startswith(f"{topic}: ")
    assert reason in reject.reason
    assert reject.payload == (payload[:1024] if len(payload) > 65536 else payload)


def test_a_field_missing_for_one_sensor_still_feeds_the_other() -> None:
    base = contract_sensors()[0]
    humidity = base.model_copy(
        update={
            "id": "freezer-20a.humidity",
            "quantity": "humidity",
            "unit": "percent",
            "source": base.source.model_copy(update={"value": "humidity"}),
        }
    )
    router = Router([base, humidity])
    out = Decoded()
    decode(
        Z2M,
        b'{"temperature": -19.6}',
        router.match(Z2M),
        received=1.8e9,
        dup=False,
        zone=UTC_ZONE,
        out=out,
    )
    assert [(r.sensor_id, r.value) for r in out.readings] == [("freezer-20a.temp", -19.6)]
    assert [r.reason for r in out.rejects] == [f"{Z2M}: field humidity missing"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1732442400, 1732442400.0),
        (1732442400.5, 1732442400.5),
        (1732442400123, 1732442400.123),
        ("1732442400123", 1732442400.123),
        (1732442400123456, 1732442400.123456),
        (1732442400123456789, 1732442400.1234567),
        ("2024-11-24T10:00:00Z", datetime(2024, 11, 24, 10, tzinfo=UTC).timestamp()),
        ("2024-11-24T11:00:00+01:00", datetime(2024, 11, 24, 10, tzinfo=UTC).timestamp()),
        ("2024-11-24T10:00:00.250", datetime(2024, 11, 24, 10, tzinfo=UTC).timestamp() + 0.25),
        ("2024-11-24 10:00:00", datetime(2024, 11, 24, 10, tzinfo=UTC).timestamp()),
    ],
)
def test_sensor_times_in_every_format(raw: object, expected: float) -> None:
    assert epoch(raw, UTC_ZONE) == pytest.approx(expected, abs=1e-6)


def test_zone_less_times_use_the_configured_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert (
        epoch("2026-11-24T11:00:00", berlin) == datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp()
    )


def test_a_bad_sensor_time_keeps_the_value_with_the_receive_time_and_a_flag() -> None:
    out = run(TASMOTA, b'{"Time": "yesterday", "DS18B20": {"Temperature": 37.1}}', dup=True)
    [reading] = out.readings
    assert reading.value == 37.1
    assert reading.sensor_time is None
    assert reading.extra == {"sensor_time_rejected": "Time: 'yesterday'", "dup": True}


def test_dup_is_recorded_only_without_a_sensor_time() -> None:
    assert run(Z2M, b'{"temperature": -19.6}', dup=True).readings[0].extra == {"dup": True}
    assert run(ULT, b'{"ts": 1732442400, "temp_c": -80}', dup=True).readings[0].extra is None


# --- properties ----------------------------------------------------------------------

TOPICS = st.sampled_from([ULT, TASMOTA, Z2M, PLAIN, DOOR]) | st.text(max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(topic=TOPICS, payload=st.binary(max_size=300), dup=st.booleans())
def test_decoder_never_raises_on_arbitrary_bytes(topic: str, payload: bytes, dup: bool) -> None:
    out = run(topic, payload, dup=dup)
    _every_outcome_accounted(topic, out)


@settings(max_examples=300, deadline=None)
@given(topic=TOPICS, document=JSON_VALUES)
def test_decoder_never_raises_on_arbitrary_json(topic: str, document: object) -> None:
    try:
        payload = orjson.dumps(document)
    except TypeError:  # integers beyond 64 bits: not JSON orjson writes
        return
    out = run(topic, payload)
    _every_outcome_accounted(topic, out)


def _every_outcome_accounted(topic: str, out: Decoded) -> None:
    """Each sensor the topic feeds gets a reading or a reject; a message-level problem
    (bad JSON, too big, no sensor) is one reject for the whole message."""
    matches = ROUTER.match(topic)
    per_sensor = len(out.readings) + len(out.rejects) == len(matches)
    whole_message = len(out.rejects) == 1 and not out.readings
    assert per_sensor or whole_message
    for reading in out.readings:
        assert isinstance(reading.value, float) and math.isfinite(reading.value)
    for reject in out.rejects:
        assert reject.source == f"mqtt:{topic}"
        assert reject.reason.startswith(f"{topic}: ")


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    ts=st.integers(min_value=1_577_836_800_000, max_value=4_102_444_800_000),
    freezer=st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True),
)
def test_valid_ult_payloads_decode_exactly(value: float, ts: int, freezer: str) -> None:
    topic = f"lab3/ult/{freezer}/telemetry"
    out = run(topic, orjson.dumps({"ts": ts, "temp_c": value, "door": "closed"}))
    assert out.rejects == []
    [reading] = out.readings
    assert reading.sensor_id == f"ult-{freezer}.temp"
    assert reading.value == value
    assert reading.sensor_time == ts / 1000


@settings(max_examples=200, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_plain_numeric_payloads_decode_exactly(value: float) -> None:
    [reading] = run(PLAIN, repr(value).encode()).readings
    assert reading.value == value
