"""Daily and monthly roll-ups, kept up to date in the background.

Daily roll-ups (``daily_usage``) hold each closed local day's figures per instrument, computed
by the same pure engine over a timeline reaching ``Policy.context_s`` beyond the day, so summing
roll-ups equals computing the period at once. Late data touching a closed day marks it in
``dirty_days`` (the writer and session import do this); :func:`refresh_rollups` recomputes
dirty days, fills missing ones and rewrites the closed months they fall in (``monthly_usage``).
Queries use a roll-up only while it is clean (:mod:`jishi.collector.ledger.fleet`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger import rollup_store as store
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.live import live_many
from jishi.collector.usage.engine import FIGURE_NAMES, UsageFigures
from jishi.collector.usage.periods import Bucket, split_by_day

# (instrument row, day start, day end, figures in seconds) of a day just (re)computed.
DayHook = Callable[[Mapping[str, Any], float, float, Mapping[str, float]], None]


def refresh_rollups(
    engines: Engines,
    config: CollectorConfig,
    now: float,
    max_days: int = 20_000,
    on_day: DayHook | None = None,
    *,
    instruments: Collection[str] | None = None,
) -> int:
    """Recompute dirty closed days and fill missing ones; returns the number of days written.

    ``on_day`` is called for each written day after the commit (the InfluxDB mirror).
    ``instruments`` limits the pass to those ids (several workers can share a backlog)."""
    zone = ZoneInfo(config.site.timezone)
    this_month = datetime.fromtimestamp(now, zone).strftime("%Y-%m")
    with engines.read.connect() as conn:
        marks = _dirty_marks(conn, now, zone, max_days, instruments)
        todo: dict[str, set[str]] = defaultdict(set)
        for instrument_id, day in marks:
            todo[instrument_id].add(day)
        _add_missing_days(conn, todo, now, zone, instruments)
        computed = _compute_days(conn, config, todo, now=now, zone=zone, max_days=max_days)
        months = store.months_lacking(conn, this_month, instruments)
    for row, bucket, _ in computed:
        if bucket.key[:7] < this_month:
            months.setdefault(row["id"], set()).add(bucket.key[:7])
    if not computed and not months:
        return 0
    with engines.write.begin() as conn:
        store.store_days(conn, [(row["id"], b, f) for row, b, f in computed], now)
        store.clear_marks(conn, marks)
        store.rebuild_months(conn, months, now)
    _notify(on_day, computed)
    return len(computed)


Computed = list[tuple[Mapping[str, Any], Bucket, UsageFigures]]


def _dirty_marks(
    conn: Connection,
    now: float,
    zone: ZoneInfo,
    max_days: int,
    instruments: Collection[str] | None,
) -> dict[tuple[str, str], float]:
    """The closed days marked dirty (late data), with when they were marked (at most
    ``max_days``, of ``instruments`` only when given: the limit applies after the choice)."""
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    dd = tables.dirty_days
    query = select(dd).where(dd.c.day < today)
    if instruments is not None:
        query = query.where(dd.c.instrument_id.in_(sorted(instruments)))
    dirty = conn.execute(query.limit(max_days)).mappings().all()
    return {(r["instrument_id"], r["day"]): r["marked_at"] for r in dirty}


def _add_missing_days(
    conn: Connection,
    todo: dict[str, set[str]],
    now: float,
    zone: ZoneInfo,
    instruments: Collection[str] | None,
) -> None:
    """Add to ``todo`` every closed day since an instrument's first span without a roll-up.

    An instrument is complete when its monthly rows cover every day from its first span to the
    end of last month and this month's daily rows every day since; both are read through the
    indexes, a few rows per instrument, so a pass over a large fleet with nothing to do is
    cheap. Only the others have their days listed."""
    t, s, d, m = tables.instruments, tables.spans, tables.daily_usage, tables.monthly_usage
    today_start = _today_start(now, zone)
    today = datetime.fromtimestamp(today_start, zone).date()
    month_first = today.replace(day=1).isoformat()
    rows = conn.execute(
        select(
            t.c.id,
            select(func.min(s.c.start)).where(s.c.instrument_id == t.c.id).scalar_subquery(),
            select(func.sum(m.c.days))
            .where(m.c.instrument_id == t.c.id, m.c.month < month_first[:7])
            .scalar_subquery(),
            select(func.count())
            .select_from(d)
            .where(d.c.instrument_id == t.c.id, d.c.day >= month_first)
            .scalar_subquery(),
        )
    ).all()
    wanted = None if instruments is None else set(instruments)
    for instrument_id, first, month_days, recent in rows:
        if first is None or first >= today_start:
            continue
        if wanted is not None and instrument_id not in wanted:
            continue
        first_day = datetime.fromtimestamp(first, zone).date()
        before = max(0, (today.replace(day=1) - first_day).days)
        since = (today - max(first_day, today.replace(day=1))).days
        if int(month_days or 0) == before and int(recent or 0) == since:
            continue
        present = set(
            conn.execute(select(d.c.day).where(d.c.instrument_id == instrument_id)).scalars()
        )
        days = split_by_day(first, today_start, zone)
        todo[instrument_id].update(b.key for b in days if b.key not in present)


def _compute_days(
    conn: Connection,
    config: CollectorConfig,
    todo: Mapping[str, set[str]],
    *,
    now: float,
    zone: ZoneInfo,
    max_days: int,
) -> Computed:
    """The figures of the days in ``todo`` (at most ``max_days``), from the live engine."""
    rows: dict[str, Mapping[str, Any]] = {}
    wanted: dict[str, list[Bucket]] = {}
    budget = max_days
    for instrument_id, marked in todo.items():
        row = queries.get_instrument(conn, instrument_id)
        # A day before the first observation (marked because late data just after it lies
        # within the rules' reach) needs no roll-up: queries take it as unobserved.
        first = _first_day(conn, instrument_id, zone)
        day_keys = {k for k in marked if first is not None and k >= first}
        keys = sorted(day_keys)[: max(0, budget)]
        if row is None or not keys:
            continue
        budget -= len(keys)
        lo = _day_bounds(keys[0], zone)[0]
        hi = _day_bounds(keys[-1], zone)[1]
        rows[instrument_id] = row
        chosen = set(keys)
        wanted[instrument_id] = [b for b in split_by_day(lo, hi, zone) if b.key in chosen]
    return [
        (rows[instrument_id], bucket, figures)
        for instrument_id, bucket, figures in live_many(conn, rows, config, wanted, now)
    ]


def _first_day(conn: Connection, instrument_id: str, zone: ZoneInfo) -> str | None:
    s = tables.spans
    first = conn.execute(
        select(func.min(s.c.start)).where(s.c.instrument_id == instrument_id)
    ).scalar_one()
    return None if first is None else datetime.fromtimestamp(first, zone).date().isoformat()


def _notify(
    on_day: DayHook | None, computed: Sequence[tuple[Mapping[str, Any], Bucket, UsageFigures]]
) -> None:
    if on_day is None:
        return
    for row, bucket, figures in computed:
        on_day(row, bucket.start, bucket.end, {n: getattr(figures, n) for n in FIGURE_NAMES})


def _day_bounds(key: str, zone: ZoneInfo) -> tuple[float, float]:
    day = datetime.fromisoformat(key).replace(tzinfo=zone)
    return day.timestamp(), (day + timedelta(days=1)).replace(tzinfo=zone).timestamp()


def _today_start(now: float, zone: ZoneInfo) -> float:
    return _day_bounds(datetime.fromtimestamp(now, zone).date().isoformat(), zone)[0]
