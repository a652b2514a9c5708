"""Coverage spans to a contiguous state timeline, and the incremental span merge the ledger uses.

Theory of operation (DESIGN.md, "State model" and "Freshness and unknown time"):

* Times are POSIX seconds (UTC) as ``float``; :func:`epoch` converts an aware ``datetime``.
  Nothing here reads a clock or does I/O.
* An observation (heartbeat or state message) at ``ts`` with state ``s`` makes ``s`` known over
  ``[ts, ts + stale_after)``, unless a later observation takes over first. Consecutive
  observations of one state form a *run*, stored as one :class:`Coverage` span.
* :func:`merge_observation` keeps a list of spans *normalized*: sorted by start,
  non-overlapping. A last will is recorded by :func:`record_offline` as a zero-length
  ``unknown`` span at the receive time, which stops earlier runs from being extended past it by
  observations that arrive late.
* :func:`build_timeline` accepts any spans, overlapping ones included (the span that starts
  later wins where they overlap; equal starts: the later one in the input wins) and returns
  contiguous :class:`Interval` objects covering exactly ``[start, end)``, ``unknown`` wherever
  no span covers. Adjacent intervals of one state are merged.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

OFF = "off"
IDLE = "idle"
RUNNING = "running"
FAULT = "fault"
MAINTENANCE = "maintenance"
UNKNOWN = "unknown"
# Order matters only for display: observed states, then the collector-derived one.
STATES: tuple[str, ...] = (OFF, IDLE, RUNNING, FAULT, MAINTENANCE, UNKNOWN)
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
class Coverage:
    """A run of same-state observations, fresh over ``[start, end)``.

    ``last_ts`` is the time of the run's latest observation (``None``: only ``start`` is
    known). :func:`merge_observation` uses it to tell an in-order observation (after the run's
    last one: it truncates the run) from a late one inside the run (it splits the run).
    """

    start: float
    end: float
    state: str
    last_ts: float | None = None

    def __post_init__(self) -> None:
        _check_state(self.state)
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(f"coverage bounds must be finite: [{self.start}, {self.end})")
        if self.end < self.start:
            raise ValueError(f"coverage ends before it starts: [{self.start}, {self.end})")

    @property
    def last_seen(self) -> float:
        """The run's latest observation time, falling back to its start."""
        return self.start if self.last_ts is None else self.last_ts


@dataclass(frozen=True, slots=True)
class Interval:
    """One piece of a contiguous timeline: the instrument was in ``state`` over ``[start, end)``."""

    start: float
    end: float
    state: str

    @property
    def duration_s(self) -> float:
        return self.end - self.start


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


def observe(
    prev: Coverage | None,
    nxt: Coverage | None,
    ts: float,
    state: str,
    stale_after_s: float,
) -> list[Coverage]:
    """Merge one observation into its two neighbours; returns what replaces ``[prev, nxt]``.

    ``prev`` is the last span starting at or before ``ts``, ``nxt`` the first span starting
    after it (either may be ``None``); together they are all an observation can change. Rules:

    * same state as ``prev`` and ``ts`` inside (or at the end of) its coverage: the run is
      extended to ``ts + stale_after_s`` (never past ``nxt``'s start). If ``ts`` is the run's
      newest observation its expiry replaces the old one; an older one only ever extends;
    * a different state at or after the run's last observation: a new span starts at ``ts``
      and the previous run's coverage is truncated at ``ts``;
    * a different state *before* the run's last observation (a late point inside it): the run
      is split. Its inner observations are not stored, so the point is taken to hold for its
      ``stale_after_s`` or until the run's last observation, whichever is first, and the run
      resumes after it;
    * otherwise (nothing before ``ts``, or ``ts`` past the run's coverage) a new span starts;
      the time between stays unknown.

    A new or extended span that reaches ``nxt`` with the same state is merged with it. Two
    observations with the same ``ts`` and different states: the one merged last wins.
    """
    _check_state(state)
    if not math.isfinite(ts) or not stale_after_s >= 0:
        raise ValueError(f"bad observation: ts={ts!r}, stale_after_s={stale_after_s!r}")
    if prev is not None and prev.start > ts:
        raise ValueError("prev must start at or before ts")
    if nxt is not None and nxt.start <= ts:
        raise ValueError("nxt must start after ts")
    limit = nxt.start if nxt is not None else math.inf
    fresh_end = min(ts + stale_after_s, limit)

    if prev is not None and prev.state == state and ts <= prev.end:
        if ts >= prev.last_seen:
            # The newest observation of the run decides its expiry, even if it is sooner
            # (a new birth message announced a shorter heartbeat interval).
            grown = Coverage(prev.start, fresh_end, state, ts)
        else:
            grown = Coverage(prev.start, max(prev.end, fresh_end), state, prev.last_seen)
        return _join_next(grown, nxt)

    if prev is not None and prev.state != state and ts < prev.last_seen:
        return _split_run(prev, ts, state, stale_after_s) + ([nxt] if nxt is not None else [])

    out: list[Coverage] = []
    if prev is not None:
        if prev.end <= ts:
            out.append(prev)
        elif prev.start < ts:
            out.append(Coverage(prev.start, ts, prev.state, min(prev.last_seen, ts)))
        # else: prev starts exactly at ts with another state and is fully replaced
    out.extend(_join_next(Coverage(ts, fresh_end, state, ts), nxt))
    return out


def _split_run(run: Coverage, ts: float, state: str, stale_after_s: float) -> list[Coverage]:
    """A late point of another state inside ``run``: the run pauses for it, then resumes."""
    point_end = min(ts + stale_after_s, run.last_seen)
    out: list[Coverage] = []
    if run.start < ts:
        out.append(Coverage(run.start, ts, run.state, ts))
    out.append(Coverage(ts, point_end, state, ts))
    if point_end < run.end:
        out.append(Coverage(point_end, run.end, run.state, run.last_ts))
    return out


def _join_next(span: Coverage, nxt: Coverage | None) -> list[Coverage]:
    if nxt is None:
        return [span]
    if nxt.state == span.state and span.end >= nxt.start:
        last = max(span.last_seen, nxt.last_seen)
        return [Coverage(span.start, max(span.end, nxt.end), span.state, last)]
    return [span, nxt]


def merge_observation(
    spans: Sequence[Coverage], ts: float, state: str, stale_after_s: float
) -> list[Coverage]:
    """``spans`` (normalized: sorted by start, non-overlapping) with one observation merged.

    See :func:`observe` for the rules. Only the last span starting at or before ``ts`` and the
    first one starting after it are read or changed, so a ledger may pass just those two.
    """
    merged = list(spans)
    _merge_in_place(merged, ts, state, stale_after_s)
    return merged


def _merge_in_place(spans: list[Coverage], ts: float, state: str, stale_after_s: float) -> None:
    i = bisect_right(spans, ts, key=lambda s: s.start)
    prev = spans[i - 1] if i > 0 else None
    nxt = spans[i] if i < len(spans) else None
    # Slice assignment near the end is O(1), so in-order feeds stay linear overall.
    spans[max(i - 1, 0) : i + 1] = observe(prev, nxt, ts, state, stale_after_s)


def record_offline(spans: Sequence[Coverage], received_at: float) -> list[Coverage]:
    """A last will (or ``online: false``) received at ``received_at``: unknown from then on.

    Stored as a zero-length ``unknown`` span so that observations arriving later with an
    earlier ``ts`` cannot extend a run past the will (keep zero-length spans when storing).
    """
    return merge_observation(spans, received_at, UNKNOWN, 0.0)


def spans_from_observations(
    observations: Iterable[tuple[float, str, float]],
) -> list[Coverage]:
    """Normalized spans from ``(ts, state, stale_after_s)`` observations in arrival order."""
    spans: list[Coverage] = []
    for ts, state, stale_after_s in observations:
        _merge_in_place(spans, ts, state, stale_after_s)
    return spans
