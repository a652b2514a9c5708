"""Shorthand for the usage tests: times as offsets from a Shanghai midnight, tuples to objects."""

from __future__ import annotations

from collections.abc import Iterable

from jishi.collector.usage.engine import Session
from jishi.collector.usage.timeline import Coverage, Interval

# 2025-03-03 00:00 Asia/Shanghai (2025-03-02 16:00 UTC): an integer, so float sums are exact.
T0 = 1740931200.0
HOUR = 3600.0
MINUTE = 60.0


def intervals(rows: Iterable[tuple[float, float, str]]) -> list[Interval]:
    return [Interval(T0 + a, T0 + b, state) for a, b, state in rows]


def coverage(rows: Iterable[tuple[float, float, str]]) -> list[Coverage]:
    return [Coverage(T0 + a, T0 + b, state) for a, b, state in rows]


def sessions(rows: Iterable[tuple[float, float, str | None]]) -> list[Session]:
    return [Session(T0 + a, T0 + b, user_type=user_type) for a, b, user_type in rows]


def rows(items: Iterable[Interval | Coverage]) -> list[tuple[float, float, str]]:
    """Objects back to offset tuples, for readable comparisons."""
    return [(item.start - T0, item.end - T0, item.state) for item in items]
