"""Sets of sequence numbers kept as merged ranges: dedupe on ``(boot_id, seq)`` in one short
row per agent start. Pure functions over ``list[tuple[lo, hi]]`` (inclusive, sorted, disjoint)."""

from __future__ import annotations

import bisect

Ranges = list[tuple[int, int]]


def parse(text: str) -> Ranges:
    """``"0-41,43-50"`` -> ``[(0, 41), (43, 50)]``."""
    if "," not in text:  # the usual case: one run with no gap
        lo, _, hi = text.partition("-")
        return [(int(lo), int(hi))] if text else []
    ranges: Ranges = []
    for part in text.split(","):
        if part:
            lo, _, hi = part.partition("-")
            ranges.append((int(lo), int(hi)))
    return ranges


def format_ranges(ranges: Ranges) -> str:
    return ",".join(f"{lo}-{hi}" for lo, hi in ranges)


def contains(ranges: Ranges, seq: int) -> bool:
    index = bisect.bisect_right(ranges, (seq, 2**63)) - 1
    return index >= 0 and ranges[index][0] <= seq <= ranges[index][1]


def add(ranges: Ranges, seq: int) -> bool:
    """Add ``seq`` in place, merging neighbours; returns False if it was already there."""
    index = bisect.bisect_right(ranges, (seq, 2**63)) - 1
    if index >= 0 and ranges[index][0] <= seq <= ranges[index][1]:
        return False
    joins_left = index >= 0 and ranges[index][1] == seq - 1
    right = index + 1
    joins_right = right < len(ranges) and ranges[right][0] == seq + 1
    if joins_left and joins_right:
        ranges[index] = (ranges[index][0], ranges[right][1])
        del ranges[right]
    elif joins_left:
        ranges[index] = (ranges[index][0], seq)
    elif joins_right:
        ranges[right] = (seq, ranges[right][1])
    else:
        ranges.insert(right, (seq, seq))
    return True
