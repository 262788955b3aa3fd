"""Which gateway sequence numbers have been applied: a short list of [lo, hi] ranges.

De-duplication by event id (`<gateway>:<seq>`) in bounded memory: a consumer group hands
out contiguous slices of the stream, so the applied seqs of a gateway merge into a few
ranges (one, plus one per batch still in flight). Past `MAX_RANGES` the two oldest ranges
are merged (the gap between them is assumed applied); docs/analytics.md says when that
could matter. The same algorithm runs in the commit script (state.py) on the Redis copy.
"""

from __future__ import annotations

import bisect

MAX_RANGES = 256


def runs(seqs: list[int]) -> list[list[int]]:
    """Sorted distinct seqs as [lo, hi] runs of consecutive numbers."""
    out: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if out and seq == out[-1][1] + 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def contains(ranges: list[list[int]], seq: int) -> bool:
    """True when `seq` lies in one of the sorted, disjoint ranges."""
    index = bisect.bisect_right(ranges, [seq, float("inf")]) - 1
    return index >= 0 and ranges[index][0] <= seq <= ranges[index][1]


def merge(ranges: list[list[int]], new: list[list[int]]) -> list[list[int]]:
    """The union of two range lists, adjacent ranges joined, capped at MAX_RANGES."""
    out: list[list[int]] = []
    for lo, hi in sorted([*ranges, *new]):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    while len(out) > MAX_RANGES:
        out[0:2] = [[out[0][0], out[1][1]]]
    return out
