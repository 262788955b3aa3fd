"""A batch of plain readings, decoded and checked in compiled code (issue 17).

Most of what gateways send is a batch of plain readings. Such a body is decoded straight
into typed records (msgspec) that hold the rules of `events.parse` and `ingest._check`
for that one shape: exact JSON types, `specversion`, `type`, `datacontenttype`, no
`traceparent`, an `id` of at most 512 characters, a non-empty `subject`, and `data` with
`seq` (an integer from 0 to 2^63-1), a number `value` and, as strings or null, `unit`,
`quantity`, `kind` and `received`. What the types cannot say (the source is the token's,
the id repeats the seq, the times are RFC 3339 with a zone) is checked per event here.

Anything else -- another event type, an extension attribute, an extra data field, one
bad event -- returns None, never an error: the batch then goes to `ingest.build_batch`,
which gives each event that is a plain reading the same typed record and row
(`PlainReadings.row_of`: a heartbeat or an alarm in a batch leaves its readings on this
path) and every other event the full checks, which name the index and field at fault.
Both give the same rows (tests/central/test_plain_batch.py holds them equal to the full
checks' rows on fuzzed and hand-picked input, batch by batch and event by event).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from central.storage.records import Batch, ReadingRow
from runtime import events as ev

MAX_SEQ = 2**63 - 1  # a BIGINT; larger failed in the database: 503 and a retry forever


# gc=False: these records hold only strings, numbers and each other (no cycles), so the
# collector need not track the ~500 of them each request creates.
class _Data(Struct, forbid_unknown_fields=True, gc=False):
    seq: Annotated[int, Meta(ge=0, le=MAX_SEQ)]
    value: int | float
    unit: str | UnsetType | None = UNSET
    quantity: str | UnsetType | None = UNSET
    kind: str | UnsetType | None = UNSET
    received: str | UnsetType | None = UNSET


class _Reading(Struct, forbid_unknown_fields=True, gc=False):
    specversion: Literal["1.0"]
    type: Literal["org.tracseq.reading"]
    source: str
    id: Annotated[str, Meta(max_length=512)]
    subject: Annotated[str, Meta(min_length=1)]
    data: _Data
    time: str | UnsetType | None = UNSET
    datacontenttype: Literal["application/json"] | UnsetType = UNSET
    traceparent: UnsetType | None = UNSET  # a reading with one takes the full checks


assert ev.READING == "org.tracseq.reading" and ev.CONTENT_TYPE == "application/json"
_decoder = msgspec.json.Decoder(list[_Reading])
_new_row = tuple.__new__  # a ReadingRow without the Python-level NamedTuple.__new__
_convert = msgspec.convert


def plain_batch(body: bytes, source: str, now: float) -> Batch | None:
    """The batch a `batched` body of plain readings from gateway `source` holds, or None:
    then the full checks judge it (and name what is wrong)."""
    plain = PlainReadings.of(source, now)
    if plain is None:
        return None
    try:
        decoded = _decoder.decode(body)
    except msgspec.DecodeError:  # not this shape (ValidationError) or not JSON at all
        return None
    rows = plain.rows(decoded)
    if rows is None:
        return None
    return Batch(source, plain.gateway, now, rows, [], list(decoded))  # the records: live stream


class PlainReadings:
    """The rows of plain readings from one gateway's `source`, received at `now`: what
    `plain_batch` stores, and what `ingest.build_batch` stores for each plain reading of a
    batch that holds other events too (a heartbeat, an alarm)."""

    __slots__ = ("gateway", "now", "prefix", "source")

    def __init__(self, source: str, gateway: str, now: float) -> None:
        self.source, self.gateway, self.prefix, self.now = source, gateway, gateway + ":", now

    @classmethod
    def of(cls, source: str, now: float) -> PlainReadings | None:
        """For a gateway's source; None for any other (the full checks judge its events)."""
        if not source.startswith(ev.EDGE_SOURCE_PREFIX) or len(source) > 512:
            return None
        return cls(source, source[len(ev.EDGE_SOURCE_PREFIX) :], now)

    def row_of(self, item: Any) -> ReadingRow | None:
        """The row of one decoded JSON event, or None: it is not a plain reading that
        passes every check, and the full checks judge it."""
        try:
            event = _convert(item, _Reading)
        except msgspec.ValidationError:
            return None
        rows = self.rows((event,))
        return None if rows is None else rows[0]

    def rows(self, events: Iterable[_Reading]) -> list[ReadingRow] | None:
        """The rows of plain readings' records, or None when a check the types cannot
        say fails for any of them (the source, the id, the times)."""
        source, prefix, gateway, now, parse_time = (
            self.source, self.prefix, self.gateway, self.now, ev.parse_time
        )  # fmt: skip
        rows: list[ReadingRow] = []
        append = rows.append
        for event in events:
            data = event.data
            seq, value, time, received_text = data.seq, data.value, event.time, data.received
            if event.source != source or event.id != prefix + str(seq):
                return None
            if type(value) is float and value - value != 0.0:  # inf/NaN: not JSON; a dict can
                return None
            try:
                at = None if time is None or time is UNSET else parse_time(time)
                if received_text is None or received_text is UNSET:
                    received = None
                else:
                    received = at if received_text == time else parse_time(received_text)
            except ValueError:
                return None
            unit, quantity = data.unit, data.quantity
            append(
                _new_row(
                    ReadingRow,
                    (
                        event.id,
                        gateway,
                        seq,
                        event.subject,
                        at if at is not None else (received or now),
                        float(value),
                        None if unit is UNSET else unit,
                        None if quantity is UNSET else quantity,
                        received,
                    ),
                )
            )
        return rows
