"""Stored spans to a contiguous state timeline.

Theory of operation (DESIGN.md, "State model"):

* Times are POSIX seconds (UTC) as ``float``; :func:`epoch` converts an aware ``datetime``.
  Nothing here reads a clock or does I/O.
* The ledger's spans are the known pieces of the timeline that the evidence resolves to
  (:mod:`jishi.collector.usage.evidence`): a :class:`Coverage` says the instrument was in ``state``
  over ``[start, end)``.
* :func:`build_timeline` accepts any spans, overlapping ones included (the span that starts
  later wins where they overlap; equal starts: the later one in the input wins) and returns
  contiguous :class:`Interval` objects covering exactly ``[start, end)``, ``unknown`` wherever
  no span covers. Adjacent intervals of one state are merged.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jishi.states import FAULT, IDLE, MAINTENANCE, OFF, RUNNING, STATES, UNKNOWN

__all__ = ["FAULT", "IDLE", "MAINTENANCE", "OFF", "RUNNING", "STATES", "UNKNOWN"]
_STATE_SET = frozenset(STATES)


def epoch(moment: datetime) -> float:
    """POSIX seconds of an aware ``datetime`` (naive ones are refused: they have no zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return moment.timestamp()


def _check_state(state: str) -> None:
    if state not in _STATE_SET:
        raise ValueError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")


@dataclass(frozen=True, slots=True)
class _Stretch:
    start: float
    end: float
    state: str

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Coverage(_Stretch):
    """The instrument was in ``state`` over ``[start, end)`` (one stored span)."""

    def __post_init__(self) -> None:
        _check_state(self.state)
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(f"coverage bounds must be finite: [{self.start}, {self.end})")
        if self.end < self.start:
            raise ValueError(f"coverage ends before it starts: [{self.start}, {self.end})")


@dataclass(frozen=True, slots=True)
class Interval(_Stretch):
    """One piece of a contiguous timeline: the instrument was in ``state`` over ``[start, end)``."""


def build_timeline(spans: Iterable[Coverage], start: float, end: float) -> list[Interval]:
    """Contiguous intervals covering exactly ``[start, end)``; ``unknown`` where nothing covers.

    Where spans overlap, the one that starts later wins (it carries the newer observation);
    on equal starts the later one in ``spans`` wins. Sorts once and sweeps with a heap of the
    spans covering the sweep point: O(n log n).
    """
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"timeline bounds must be finite: [{start}, {end})")
    if end < start:
        raise ValueError(f"timeline ends before it starts: [{start}, {end})")
    relevant = [s for s in spans if s.end > s.start and s.end > start and s.start < end]
    relevant.sort(key=lambda s: s.start)  # stable: equal starts keep input order
    if all(a.end <= b.start for a, b in itertools.pairwise(relevant)):
        return _from_disjoint(relevant, start, end)
    pieces: list[tuple[float, float, str]] = []
    # Heap entries (-start, -rank, end, state): the top is the latest-starting covering span.
    active: list[tuple[float, int, float, str]] = []
    count = len(relevant)
    k = 0
    t = start
    while t < end:
        while k < count and relevant[k].start <= t:
            span = relevant[k]
            heapq.heappush(active, (-span.start, -k, span.end, span.state))
            k += 1
        while active and active[0][2] <= t:
            heapq.heappop(active)  # expired; non-top expired entries go when they surface
        next_start = relevant[k].start if k < count else end
        if active:
            seg_end = min(active[0][2], next_start, end)
            state = active[0][3]
        else:
            seg_end = min(next_start, end)
            state = UNKNOWN
        if pieces and pieces[-1][2] == state:
            pieces[-1] = (pieces[-1][0], seg_end, state)
        else:
            pieces.append((t, seg_end, state))
        t = seg_end
    return [Interval(a, b, s) for a, b, s in pieces]


def _from_disjoint(spans: Sequence[Coverage], start: float, end: float) -> list[Interval]:
    """The common case (normalized ledger spans): no overlap, so one linear pass suffices."""
    pieces: list[tuple[float, float, str]] = []
    t = start
    for span in spans:
        a, b = max(span.start, start), min(span.end, end)
        for seg_start, seg_end, state in ((t, a, UNKNOWN), (a, b, span.state)):
            if seg_end <= seg_start:
                continue
            if pieces and pieces[-1][2] == state:
                pieces[-1] = (pieces[-1][0], seg_end, state)
            else:
                pieces.append((seg_start, seg_end, state))
        t = max(t, b)
    if t < end:
        if pieces and pieces[-1][2] == UNKNOWN:
            pieces[-1] = (pieces[-1][0], end, UNKNOWN)
        else:
            pieces.append((t, end, UNKNOWN))
    return [Interval(a, b, s) for a, b, s in pieces]
