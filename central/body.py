"""Reading a request body with a size limit, before and after gzip decompression.

The compressed body is counted as it streams in and the read stops at the limit; gzip is
inflated incrementally with `max_length`, so a 1 GB gzip bomb never holds more than the
limit in memory: it is refused with 413 as soon as the inflated size passes the limit.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request


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
