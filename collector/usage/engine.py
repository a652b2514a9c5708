"""The usage engine: a timeline and user sessions to the evaluation's figures (DESIGN.md table).

Theory of operation. Everything is a sorted list of disjoint ``(start, end)`` spans:

1. the timeline (adjacent equal states merged) gives one span list per state;
2. idle time earns *credit* from three rules, united so overlaps never count twice: an idle
   interval strictly shorter than ``merge_gap_s`` whose neighbours on both sides are running
   (contiguous, so unknown, off or fault in between breaks the gap), any user session, and the
   ``prep_window_s`` before / ``post_window_s`` after each running interval;
3. ``effective`` = running ∪ (idle ∩ credit); ``service`` = effective ∩ sessions of internal or
   external users; ``external`` = effective ∩ sessions of external users;
4. each list is measured inside the period (or inside each day/month bucket) in one sweep.

The rules run on the whole timeline the caller passes and only the measuring is clipped to
``[start, end)``: an idle gap that crosses a period boundary is judged by its full length. So
callers pass a timeline reaching ``Policy.context_s`` beyond the period (see
:mod:`jishi.collector.usage.policy`). Time the timeline does not cover counts as unknown.
Sort once, sweep: O(n log n) in the number of intervals and sessions, no per-second loops.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal

from jishi.collector.usage.periods import (
    SECONDS_PER_HOUR,
    Bucket,
    prorated_quota_s,
    split_by_day,
    split_by_month,
)
from jishi.collector.usage.policy import Policy
from jishi.collector.usage.timeline import (
    FAULT,
    IDLE,
    MAINTENANCE,
    OFF,
    RUNNING,
    Interval,
)

INTERNAL = "internal"
EXTERNAL = "external"
STAFF = "staff"
USER_TYPES = (INTERNAL, EXTERNAL, STAFF)
# User types whose sessions count as service (服务机时); staff sessions do not.
SERVICE_USER_TYPES = frozenset({INTERNAL, EXTERNAL})

Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Session:
    """A user session over ``[start, end)`` (agent login, booking import or the API).

    ``user_type`` is ``internal``, ``external``, ``staff`` or ``None`` (not classified: its idle
    time still counts as effective, but it is not service).
    """

    start: float
    end: float
    user: str | None = None
    org: str | None = None
    user_type: str | None = None
    service_way: str | None = None
    direction: str | None = None
    satisfaction: float | None = None
    sample_count: int | None = None
    session_id: str | None = None
    contact: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(f"session bounds must be finite: [{self.start}, {self.end})")
        if self.end < self.start:
            raise ValueError(f"session ends before it starts: [{self.start}, {self.end})")
        if self.user_type is not None and self.user_type not in USER_TYPES:
            raise ValueError(
                f"unknown user_type {self.user_type!r} (expected {', '.join(USER_TYPES)})"
            )


@dataclass(frozen=True, slots=True)
class UsageFigures:
    """Seconds per figure for one instrument (or a sum) over a period; ratios are derived.

    Summing with ``+`` or :func:`sum_figures` adds seconds; the ratios of a sum are then the
    time-weighted ratios of the parts.
    """

    period_s: float = 0.0
    running_s: float = 0.0
    idle_s: float = 0.0
    off_s: float = 0.0
    fault_s: float = 0.0
    maintenance_s: float = 0.0
    unknown_s: float = 0.0
    effective_s: float = 0.0
    service_s: float = 0.0
    external_service_s: float = 0.0
    quota_s: float = 0.0

    @property
    def completeness(self) -> float:
        """Share of the period observed: ``1 - unknown_s / period_s`` (0 for an empty period)."""
        if self.period_s <= 0:
            return 0.0
        return min(1.0, max(0.0, 1.0 - self.unknown_s / self.period_s))

    @property
    def utilization(self) -> float | None:
        """``effective_s / quota_s``; ``None`` when the quota is zero."""
        return self.effective_s / self.quota_s if self.quota_s > 0 else None

    @property
    def share_rate(self) -> float | None:
        """共享率 ``external_service_s / effective_s``; ``None`` when nothing was effective."""
        return self.external_service_s / self.effective_s if self.effective_s > 0 else None

    def __add__(self, other: UsageFigures) -> UsageFigures:
        return UsageFigures(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))

    def as_dict(self) -> dict[str, float | None]:
        """Every figure in seconds (``_s``, ms precision) and hours (``_h``) plus the ratios."""
        out: dict[str, float | None] = {}
        for name, hours, value in zip(FIGURE_NAMES, _HOUR_NAMES, _values(self), strict=True):
            out[name] = round(value, 3)
            out[hours] = round(value / SECONDS_PER_HOUR, 6)
        out["completeness"] = round(self.completeness, 6)
        utilization, share = self.utilization, self.share_rate
        out["utilization"] = None if utilization is None else round(utilization, 6)
        out["share_rate"] = None if share is None else round(share, 6)
        return out


FIGURE_NAMES: tuple[str, ...] = tuple(UsageFigures.__dataclass_fields__)
_HOUR_NAMES = tuple(name[:-2] + "_h" for name in FIGURE_NAMES)
_values: Callable[[UsageFigures], tuple[float, ...]] = attrgetter(*FIGURE_NAMES)


def sum_figures(items: Iterable[UsageFigures]) -> UsageFigures:
    """The sum of several figures (days of a month, instruments of a unit)."""
    total = UsageFigures()
    for item in items:
        total = total + item
    return total


@dataclass(frozen=True, slots=True)
class _Sets:
    """The classified timeline: disjoint sorted spans per state and per derived figure."""

    by_state: dict[str, list[Span]]
    effective: list[Span]
    service: list[Span]
    external: list[Span]


def compute_usage(
    intervals: Sequence[Interval],
    sessions: Sequence[Session],
    policy: Policy,
    start: float,
    end: float,
) -> UsageFigures:
    """The DESIGN figures for ``[start, end)``; see the module docstring for the rules."""
    _check_period(start, end)
    return usage_by_buckets(intervals, sessions, policy, [Bucket("", start, end)])[0][1]


def usage_by_buckets(
    intervals: Sequence[Interval],
    sessions: Sequence[Session],
    policy: Policy,
    buckets: Sequence[Bucket],
) -> list[tuple[Bucket, UsageFigures]]:
    """Figures for each bucket (sorted, disjoint), classifying the timeline only once."""
    sets = _classify(intervals, sessions, policy)
    for before, after in itertools.pairwise(buckets):
        if after.start < before.end:
            raise ValueError("buckets must be sorted and disjoint")
    bounds = [(b.start, b.end) for b in buckets]
    state_sums = {state: _bucket_sums(spans, bounds) for state, spans in sets.by_state.items()}
    effective = _bucket_sums(sets.effective, bounds)
    service = _bucket_sums(sets.service, bounds)
    external = _bucket_sums(sets.external, bounds)
    out: list[tuple[Bucket, UsageFigures]] = []
    for i, bucket in enumerate(buckets):
        period = bucket.end - bucket.start
        known = {state: sums[i] for state, sums in state_sums.items()}
        out.append(
            (
                bucket,
                UsageFigures(
                    period_s=period,
                    running_s=known[RUNNING],
                    idle_s=known[IDLE],
                    off_s=known[OFF],
                    fault_s=known[FAULT],
                    maintenance_s=known[MAINTENANCE],
                    # Uncovered time and explicit unknown alike: whatever no known state holds.
                    unknown_s=max(0.0, period - sum(known.values())),
                    effective_s=effective[i],
                    service_s=service[i],
                    external_service_s=external[i],
                    quota_s=prorated_quota_s(
                        policy.quota_h_per_year, bucket.start, bucket.end, policy.tz
                    ),
                ),
            )
        )
    return out


_SPLITS = {"day": split_by_day, "month": split_by_month}


def usage_by_calendar(
    intervals: Sequence[Interval],
    sessions: Sequence[Session],
    policy: Policy,
    start: float,
    end: float,
    *,
    by: Literal["day", "month"],
) -> list[tuple[Bucket, UsageFigures]]:
    """Figures per local day or calendar month of ``policy.timezone`` (the first and last may
    be partial)."""
    _check_period(start, end)
    return usage_by_buckets(intervals, sessions, policy, _SPLITS[by](start, end, policy.tz))


def _check_period(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ValueError(f"period must be finite and non-empty: [{start}, {end})")


def _normalize(intervals: Sequence[Interval]) -> list[tuple[float, float, str]]:
    """Sorted, non-overlapping check, empty pieces dropped, adjacent equal states merged."""
    out: list[tuple[float, float, str]] = []
    for iv in intervals:
        if iv.end <= iv.start:
            continue
        if out:
            last_start, last_end, last_state = out[-1]
            if iv.start < last_end:
                raise ValueError("intervals must be sorted and non-overlapping")
            if iv.start == last_end and iv.state == last_state:
                out[-1] = (last_start, iv.end, last_state)
                continue
        out.append((iv.start, iv.end, iv.state))
    return out


def _classify(intervals: Sequence[Interval], sessions: Sequence[Session], policy: Policy) -> _Sets:
    timeline = _normalize(intervals)
    by_state: dict[str, list[Span]] = {RUNNING: [], IDLE: [], OFF: [], FAULT: [], MAINTENANCE: []}
    credit: list[Span] = []
    prep, post, gap = policy.prep_window_s, policy.post_window_s, policy.merge_gap_s
    last = len(timeline) - 1
    for i, (a, b, state) in enumerate(timeline):
        spans = by_state.get(state)
        if spans is None:
            continue  # unknown: never counted, derived as the remainder
        spans.append((a, b))
        if state == RUNNING:
            if prep > 0:
                credit.append((a - prep, a))
            if post > 0:
                credit.append((b, b + post))
        elif (
            state == IDLE
            and 0 < i < last
            and b - a < gap
            # Neighbours must touch: a hole in the timeline is unknown time, which breaks a gap.
            and timeline[i - 1][2] == RUNNING
            and timeline[i - 1][1] == a
            and timeline[i + 1][2] == RUNNING
            and timeline[i + 1][0] == b
        ):
            credit.append((a, b))
    credit.extend((s.start, s.end) for s in sessions)
    effective = _union(by_state[RUNNING] + _intersect(by_state[IDLE], _union(credit)))
    served = _union((s.start, s.end) for s in sessions if s.user_type in SERVICE_USER_TYPES)
    external = _union((s.start, s.end) for s in sessions if s.user_type == EXTERNAL)
    return _Sets(
        by_state=by_state,
        effective=effective,
        service=_intersect(effective, served),
        external=_intersect(effective, external),
    )


def _union(spans: Iterable[Span]) -> list[Span]:
    """Sorted disjoint spans covering the same time; touching spans are joined."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _intersect(left: Sequence[Span], right: Sequence[Span]) -> list[Span]:
    """Intersection of two sorted disjoint span lists (two-pointer sweep)."""
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a = max(left[i][0], right[j][0])
        b = min(left[i][1], right[j][1])
        if a < b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def _bucket_sums(spans: Sequence[Span], bounds: Sequence[Span]) -> list[float]:
    """Length of ``spans`` inside each of the sorted disjoint ``bounds`` (one sweep)."""
    sums = [0.0] * len(bounds)
    j = 0
    for k, (lo, hi) in enumerate(bounds):
        while j < len(spans) and spans[j][1] <= lo:
            j += 1
        m = j
        total = 0.0
        while m < len(spans) and spans[m][0] < hi:
            total += min(spans[m][1], hi) - max(spans[m][0], lo)
            m += 1
        sums[k] = total
    return sums
