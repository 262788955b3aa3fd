"""The CloudEvents HTTP content modes `POST /api/v1/ingest` accepts, as a list of events.

- batched: `application/cloudevents-batch+json` (or `application/json`), a JSON array —
  what gateways and analytics send;
- structured: `application/cloudevents+json`, one event as a JSON object — what a stock
  CloudEvents SDK sends for a single event;
- binary: the attributes in `ce-*` headers (percent-encoded, CloudEvents HTTP binding) and
  the event's `data` as the body, with its own JSON Content-Type.

Every mode ends as the same list of event objects, so the same checks (size, ownership,
envelope, per-type rules) apply to each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import unquote

import orjson

from runtime import events as ev

Mode = Literal["batched", "structured", "binary"]
ACCEPTED = (
    f"{ev.BATCH_MEDIA_TYPE}, {ev.SINGLE_MEDIA_TYPE} or binary mode (ce-* headers with a JSON body)"
)


class ContentError(ValueError):
    """The body does not hold events in the mode its headers announce (answered 400)."""


def mode_of(media: str, headers: Mapping[str, str]) -> Mode | None:
    """The content mode of a request with Content-Type `media`; None: not one we take."""
    if media in (ev.BATCH_MEDIA_TYPE, "application/json") and "ce-specversion" not in headers:
        return "batched"
    if media == ev.SINGLE_MEDIA_TYPE:
        return "structured"
    if "ce-specversion" in headers and (media == "application/json" or media.endswith("+json")):
        return "binary"
    return None


def events_of(mode: Mode, body: bytes, headers: Mapping[str, str], media: str) -> list[Any]:
    """The events the body holds in `mode` (raises ContentError)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ContentError(f"body is not JSON: {exc}") from None
    if mode == "batched":
        if not isinstance(document, list):
            raise ContentError("body must be a JSON array of CloudEvents")
        return document
    if mode == "structured":
        if not isinstance(document, dict):
            raise ContentError(f"a {ev.SINGLE_MEDIA_TYPE} body must be one JSON object")
        return [document]
    event: dict[str, Any] = {
        name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")
    }
    event["datacontenttype"] = media
    event["data"] = document
    return [event]
