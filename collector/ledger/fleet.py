"""Usage of a fleet over any period, at a cost in proportion to the data, not instruments x days.

Every local day of the period is served, per instrument, by the cheapest true source:

1. **Stored roll-ups** (:mod:`jishi.collector.ledger.rollup_store`): valid monthly rows for the
   whole months inside the whole closed days, clean daily rows for the other whole closed days,
   summed by the database, a few hundred instruments per query. Each instrument's stored rows
   normally cover one contiguous stretch of days (from its first observed day to yesterday);
   then its coverage is two day keys. Otherwise (a dirty day, a month not yet rolled up) its
   coverage is read in detail.
2. **Nothing observed**: a day outside the stretch from the instrument's first stored span to
   its last is wholly unknown; its figures are arithmetic (:mod:`jishi.collector.usage.empty`),
   O(1) per stretch of such days.
3. **Live**: the rest (today, partial days at the period's edges, days with data but no clean
   roll-up) from spans and sessions, many instruments per query (:mod:`.live`).

The figures equal the live engine's over the whole period up to the order of float additions
(tests/collector/ledger/test_fleet_usage.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import add, attrgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import rollup_store as store
from jishi.collector.ledger import tables
from jishi.collector.ledger.live import Check, Policies, live_many
from jishi.collector.usage.empty import EmptyStretches
from jishi.collector.usage.engine import FIGURE_NAMES, UsageFigures
from jishi.collector.usage.periods import Bucket, split_by_day

GroupBy = Literal["instrument", "unit", "day", "month"]
_SHORT = 2  # buckets: holes up to this many per instrument are computed live without extents
Range = tuple[int, int]  # bucket indices [i, j)


@dataclass
class _Coverage:
    """The stored days of one instrument: how many, and the first and last (day keys)."""

    count: int = 0
    first: str | None = None
    last: str | None = None

    def add(self, count: int, first: str, last: str) -> None:
        self.count += count
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


@dataclass
class _Plan:
    """The period's days and which of them roll-ups can serve."""

    days: list[Bucket]
    whole: list[str]  # the whole closed days (contiguous), in order
    months: tuple[str, str] | None  # the whole months inside them (first, last)
    w0: int = 0  # index of whole[0] in days
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.starts = [b.start for b in self.days]
        self.ends = [b.end for b in self.days]
        if self.whole:
            self.w0 = next(k for k, b in enumerate(self.days) if b.key == self.whole[0])

    def index(self, day: str) -> int:
        """Index in ``days`` of a whole day's key."""
        return self.w0 + store.days_between(self.whole[0], day) - 1

    def reaching(self, first: float, last: float) -> Range:
        """Indices of the buckets that ``[first, last]`` overlaps or touches."""
        return bisect_left(self.ends, first), bisect_right(self.starts, last)


_figure_values = attrgetter(*FIGURE_NAMES)


class _Totals:
    """Figure sums per group key."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, key: str, values: Iterable[float]) -> None:
        total = self.values.get(key)
        if total is None:
            self.values[key] = list(values)
        else:
            total[:] = map(add, total, values)

    def add_figures(self, key: str, figures: UsageFigures) -> None:
        self.add(key, _figure_values(figures))

    def result(self) -> dict[str, UsageFigures]:
        return {key: UsageFigures(*values) for key, values in self.values.items()}


def _plan(days: list[Bucket], now: float, zone: ZoneInfo, group_by: GroupBy) -> _Plan:
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    whole = [b.key for b in days if b.key < today and _is_whole_day(b, zone)]
    months = None
    if whole and group_by != "day":
        first = whole[0][:7] if whole[0].endswith("-01") else _next_month(whole[0][:7])
        last = whole[-1][:7] if whole[-1] == store.month_end(whole[-1][:7]) else None
        last = last or _previous_month(whole[-1][:7])
        months = (first, last) if first <= last else None
    return _Plan(days, whole, months)


def _is_whole_day(bucket: Bucket, zone: ZoneInfo) -> bool:
    day = datetime.fromisoformat(bucket.key).replace(tzinfo=zone)
    following = (day + timedelta(days=1)).replace(tzinfo=zone)
    return (bucket.start, bucket.end) == (day.timestamp(), following.timestamp())


def _next_month(month: str) -> str:
    year, m = int(month[:4]), int(month[5:7])
    return f"{year + m // 12:04d}-{m % 12 + 1:02d}"


def _previous_month(month: str) -> str:
    year, m = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if m == 1 else f"{year:04d}-{m - 1:02d}"


def usage_grouped(  # noqa: PLR0917 - the period and the grouping, as the API has them
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    config: CollectorConfig,
    start: float,
    end: float,
    now: float,
    group_by: GroupBy,
    *,
    check: Check | None = None,
) -> dict[str, UsageFigures]:
    """The figures of ``rows`` over ``[start, end)`` summed by instrument, unit, day or month.

    ``check`` is called between pieces of work; it raises to abandon the query (the API's time
    budget, or a client that left).
    """
    zone = ZoneInfo(config.site.timezone)
    days = split_by_day(start, end, zone)
    by_id = {str(r["id"]): r for r in rows}
    if not days or not by_id:
        return {}
    plan = _plan(days, now, zone, group_by)
    keys = _Keys(by_id, group_by)
    totals = _Totals()
    fleet = conn.execute(select(func.count()).select_from(tables.instruments)).scalar_one()
    covered = _stored(conn, None if fleet == len(by_id) else list(by_id), plan, group_by, totals)
    holes_of: dict[str, list[Range]] = {}
    detailed = [i for i in by_id if _gappy(covered.get(i))]
    details = (
        store.covered_days(conn, detailed, plan.whole[0], plan.whole[-1], plan.months)
        if detailed
        else {}
    )
    for instrument_id in by_id:
        if check is not None:
            check()
        coverage, detail = covered.get(instrument_id), details.get(instrument_id)
        holes = _holes(instrument_id, plan, (coverage, detail), keys, totals)
        if holes:  # the others are served by their roll-ups alone
            holes_of[instrument_id] = holes
    empty = EmptyStretches(days, zone)
    wanted = _split_holes(conn, holes_of, plan, empty, (Policies(config), by_id), keys, totals)
    for instrument_id, bucket, figures in live_many(conn, by_id, config, wanted, now, check=check):
        totals.add_figures(keys.of(instrument_id, bucket.key), figures)
    if group_by in ("day", "month"):
        for key, figures in empty.per_bucket(lambda b: keys.part(b.key)).items():
            totals.add_figures(key, figures)
    return totals.result()


class _Keys:
    """The group key of an instrument's day, as ``group_by`` asks."""

    def __init__(self, by_id: Mapping[str, Mapping[str, Any]], group_by: GroupBy) -> None:
        self.by_id, self.group_by = by_id, group_by

    def group(self, instrument_id: str) -> str:
        if self.group_by == "unit":
            return str(self.by_id[instrument_id]["unit"] or "")
        return instrument_id

    def part(self, day: str) -> str:
        return day if self.group_by == "day" else day[:7]

    def of(self, instrument_id: str, day: str) -> str:
        if self.group_by in ("instrument", "unit"):
            return self.group(instrument_id)
        return self.part(day)


def _split_holes(  # noqa: PLR0917 - one step of usage_grouped, its state passed along
    conn: Connection,
    holes_of: Mapping[str, list[Range]],
    plan: _Plan,
    empty: EmptyStretches,
    rules: tuple[Policies, Mapping[str, Mapping[str, Any]]],
    keys: _Keys,
    totals: _Totals,
) -> dict[str, list[Bucket]]:
    """Cut each instrument's holes at its observed extent: the unobserved ends are summed as
    arithmetic (into ``totals``, or tallied in ``empty`` for day and month groups), the rest
    is returned to be computed live."""
    policies, by_id = rules
    wanted: dict[str, list[Bucket]] = {}
    # Holes of a day or two (today, for most of a fleet) are computed live, which costs less
    # than looking up where each instrument's data begin and end (0.6 s for 10,000).
    short = [i for i, holes in holes_of.items() if sum(j - k for k, j in holes) <= _SHORT]
    for instrument_id in short:
        wanted[instrument_id] = [b for k, j in holes_of[instrument_id] for b in plan.days[k:j]]
    longer = [i for i in holes_of if i not in wanted]
    for instrument_id, (first, last) in _extents(conn, longer).items():
        live = plan.reaching(first, last) if first is not None else (0, 0)
        quota_h = policies(by_id[instrument_id]).quota_h_per_year
        for i, j in holes_of[instrument_id]:
            lo, hi = max(i, live[0]), min(j, live[1])
            for a, b in ((i, lo), (hi, j)) if lo < hi else ((i, j),):
                if a >= b:
                    continue
                if keys.group_by in ("instrument", "unit"):
                    totals.add_figures(keys.group(instrument_id), empty.stretch(a, b, quota_h))
                else:
                    empty.add(a, b, quota_h)
            if lo < hi:
                wanted.setdefault(instrument_id, []).extend(plan.days[lo:hi])
    return wanted


def _stored(
    conn: Connection, ids: list[str] | None, plan: _Plan, group_by: GroupBy, totals: _Totals
) -> dict[str, _Coverage]:
    """Sum the stored roll-ups of ``ids`` (None: the whole fleet) into ``totals``; returns each
    instrument's stored coverage."""
    covered: dict[str, _Coverage] = {}
    if not plan.whole:
        return covered
    outside = [(plan.whole[0], plan.whole[-1])]
    parts: list[store.Stored] = []
    if plan.months is not None:
        first, last = plan.months
        parts.append(store.month_sums(conn, ids, first, last, group_by))
        outside = _outside(plan.whole, first, last)
    parts.append(store.day_sums(conn, ids, outside, group_by))
    for part in parts:
        for instrument_id, (count, lo, hi) in part.coverage.items():
            covered.setdefault(instrument_id, _Coverage()).add(count, lo, hi)
        for key, values in part.sums.items():
            totals.add(key, values)
    return covered


def _outside(whole: list[str], first_month: str, last_month: str) -> list[tuple[str, str]]:
    """The stretches of ``whole`` before the month range and after it (inclusive pairs)."""
    out: list[tuple[str, str]] = []
    before = _day_before(first_month + "-01")
    if whole[0] <= before:
        out.append((whole[0], before))
    after = _day_after(store.month_end(last_month))
    if after <= whole[-1]:
        out.append((after, whole[-1]))
    return out


def _day_before(day: str) -> str:
    return (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()


def _day_after(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()


def _gappy(coverage: _Coverage | None) -> bool:
    """Whether an instrument's stored days leave holes between its first and last: then its
    coverage is read in detail."""
    if coverage is None or coverage.first is None or coverage.last is None:
        return False
    return coverage.count != store.days_between(coverage.first, coverage.last)


def _holes(
    instrument_id: str,
    plan: _Plan,
    stored: tuple[_Coverage | None, store.Detail | None],
    keys: _Keys,
    totals: _Totals,
) -> list[Range]:
    """The buckets no stored roll-up serves, as index ranges."""
    n = len(plan.days)
    coverage, detail = stored
    if coverage is None or coverage.first is None or coverage.last is None:
        return [(0, n)]
    if detail is None:  # one contiguous stretch of stored days
        i, j = plan.index(coverage.first), plan.index(coverage.last) + 1
        return [r for r in ((0, i), (j, n)) if r[0] < r[1]]
    days, extra = detail
    for day, values in extra.items():
        totals.add(keys.of(instrument_id, day), values)
    return _ranges([k for k, b in enumerate(plan.days) if b.key not in days])


def _ranges(indices: Sequence[int]) -> list[Range]:
    out: list[Range] = []
    for k in indices:
        if out and out[-1][1] == k:
            out[-1] = (out[-1][0], k + 1)
        else:
            out.append((k, k + 1))
    return out


def _extents(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """Each instrument's first span start and last span end (``None`` without spans): one
    index lookup each."""
    t, s = tables.instruments, tables.spans
    out: dict[str, tuple[Any, Any]] = dict.fromkeys(ids, (None, None))
    for k in range(0, len(ids), store.CHUNK):
        query = select(
            t.c.id,
            select(func.min(s.c.start)).where(s.c.instrument_id == t.c.id).scalar_subquery(),
            select(func.max(s.c.end)).where(s.c.instrument_id == t.c.id).scalar_subquery(),
        ).where(t.c.id.in_(ids[k : k + store.CHUNK]))
        for instrument_id, first, last in conn.execute(query):
            out[instrument_id] = (first, last)
    return out


def usage_by_day_cached(  # noqa: PLR0917 - callers pass the period positionally
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    start: float,
    end: float,
    now: float,
) -> list[tuple[Bucket, UsageFigures]]:
    """Per-day figures of one instrument (roll-ups where they serve, live otherwise)."""
    sums = usage_grouped(conn, [row], config, start, end, now, "day")
    return [(b, sums[b.key]) for b in split_by_day(start, end, ZoneInfo(config.site.timezone))]
