"""The one way central reads a request body: bounded, before and after gzip decompression.

A declared `Content-Length` over the limit is refused (413) before a byte is read; else the
body is counted as it streams in and the read stops at the limit (413), so a client sending
400 MiB costs central at most the limit in memory. gzip is inflated incrementally with
`max_length`, so a 1 GB gzip bomb is refused as soon as the inflated size passes the limit.
JSON routes read at most `JSON_LIMIT` (ingest has its own, larger `--max-body`) and parse
the body into a pydantic request model (central/schemas.py); a field that does not fit is
a 400 naming it. Every `BodyError` is answered by the app's handler (central/exceptions.py).
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

JSON_LIMIT = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class BodyError(Exception):
    """A body that cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def read_body(request: Request, limit: int) -> bytes:
    """The (decompressed) body, at most `limit` bytes before and after decompression."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body of {declared} bytes is over the limit of {limit} bytes")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    received = 0
    out = bytearray()
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyError(413, f"body is over the limit of {limit} bytes")
        if inflater is None:
            out += chunk
            continue
        _inflate(inflater, chunk, out, limit)
    if inflater is not None:
        if not inflater.eof:
            raise BodyError(400, "gzip body is truncated")
        if inflater.unused_data:
            raise BodyError(400, "trailing data after the gzip stream")
    return bytes(out)


def _inflate(inflater: zlib._Decompress, chunk: bytes, out: bytearray, limit: int) -> None:
    data = chunk
    while data:
        try:
            piece = inflater.decompress(data, limit - len(out) + 1)
        except zlib.error as exc:
            raise BodyError(400, f"body is not valid gzip: {exc}") from None
        out += piece
        if len(out) > limit:
            raise BodyError(413, f"decompressed body is over the limit of {limit} bytes")
        data = inflater.unconsumed_tail
        if inflater.eof:
            if inflater.unused_data or data:
                raise BodyError(400, "trailing data after the gzip stream")
            return


async def read_json(request: Request, limit: int = JSON_LIMIT) -> Any:
    """The body parsed as JSON, read through `read_body` (413/415/400 as BodyError)."""
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"body is not JSON: {exc}") from None


def validate(model: type[M], data: Any) -> M:
    """`data` as `model` (JSON types exactly: no "1" for 1, no 1 for true), else 400."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise BodyError(400, describe(exc)) from None


async def read_model(request: Request, model: type[M], limit: int = JSON_LIMIT) -> M:
    """The body as a JSON object validated into `model`."""
    return validate(model, await read_json(request, limit))


def describe(exc: ValidationError) -> str:
    """Each problem as `field: what is wrong`, e.g. `password: Field required`."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] in ("model_type", "dict_type"):
            message = "must be a JSON object"
        # a rule that names its field itself ("password: at least 10 characters")
        problems.append(message if message.startswith(f"{where}:") else f"{where}: {message}")
    return "; ".join(problems)
