"""`Content-Disposition` for downloads whose file name holds any text (a sensor id).

Starlette encodes header values as Latin-1, so a sensor id with a CJK letter made the CSV
report fail (503). RFC 6266 with RFC 5987's `filename*`: an ASCII fallback in `filename`
for old clients, the exact name UTF-8 percent-encoded in `filename*`.
"""

from __future__ import annotations

from urllib.parse import quote


def attachment(filename: str) -> str:
    """The header value offering `filename` (any Unicode) as a download."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    exact = quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
