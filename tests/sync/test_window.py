"""Pieces of the uploader that need no server: the ack window, Retry-After, batches."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest

from edge.entry import Stored
from runtime import events
from sync.batches import encode
from sync.http import MAX_RETRY_AFTER, parse_retry_after
from sync.window import AckWindow


def test_cursor_never_passes_a_batch_still_in_flight() -> None:
    window = AckWindow()
    first = window.open(100, received=1.0)
    second = window.open(200, received=2.0)
    third = window.open(300, received=3.0)
    assert window.close(third) is None  # answered first, but 1-200 are not acknowledged
    assert window.close(second) is None
    assert window.oldest_received() == 1.0
    assert window.close(first) == 300
    assert window.oldest_received() is None and len(window) == 0


def test_batches_must_be_opened_in_seq_order() -> None:
    window = AckWindow()
    window.open(100, received=1.0)
    with pytest.raises(ValueError):
        window.open(50, received=1.0)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("999999") == MAX_RETRY_AFTER
    now = 1_767_225_600.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == pytest.approx(30.0)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=now + 60) == 0.0


def test_a_batch_is_the_contract_envelope_gzipped_and_splits_in_halves() -> None:
    now = time.time()
    stored = [
        Stored(seq, events.READING, "s1", None, now, {"value": float(seq)}) for seq in range(1, 6)
    ]
    batch = encode(stored, "gw")
    sent = orjson.loads(gzip.decompress(batch.body))
    assert [e["id"] for e in sent] == [f"gw:{seq}" for seq in range(1, 6)]
    assert all(events.parse(e).gateway == "gw" for e in sent)
    left, right = batch.split()
    assert (left.seqs, right.seqs) == ([1, 2], [3, 4, 5])
    assert len(orjson.loads(gzip.decompress(right.body))) == 3
