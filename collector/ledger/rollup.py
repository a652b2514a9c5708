"""Usage figures for the API: live from spans, or from daily roll-ups for closed days.

Daily roll-ups (``daily_usage``) hold each closed local day's figures per instrument, computed
by the same pure engine over a timeline reaching ``Policy.context_s`` beyond the day, so summing
roll-ups equals computing the period at once. Late data touching a closed day marks it in
``dirty_days`` (the writer and session import do this); :func:`refresh_rollups` recomputes
dirty days and fills missing ones. A query uses a roll-up only when it is present and clean.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
)

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.sql import upsert
from jishi.collector.usage.engine import FIGURE_NAMES, UsageFigures, usage_by_buckets
from jishi.collector.usage.periods import Bucket, split_by_day
from jishi.collector.usage.policy import Policy, quota_h_for_category
from jishi.collector.usage.timeline import build_timeline


def policy_for(row: Mapping[str, Any], config: CollectorConfig) -> Policy:
    category = row["category"] if row["category"] in ("general", "specialised") else "general"
    return Policy(
        merge_gap_s=config.policy.merge_gap_s,
        prep_window_s=config.policy.prep_window_s,
        post_window_s=config.policy.post_window_s,
        quota_h_per_year=row["quota_h"] or quota_h_for_category(category),
        timezone=config.site.timezone,
    )


def live_buckets(
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    buckets: Sequence[Bucket],
    now: float,
) -> list[UsageFigures]:
    """Figures per bucket computed from the spans and sessions (no roll-ups)."""
    if not buckets:
        return []
    policy = policy_for(row, config)
    lo = buckets[0].start - policy.context_s
    hi = buckets[-1].end + policy.context_s
    spans = queries.coverage(conn, row["id"], lo, hi)
    sessions = queries.sessions_in(conn, [row["id"]], lo, hi, now)[row["id"]]
    intervals = build_timeline(spans, lo, hi)
    return [figures for _, figures in usage_by_buckets(intervals, sessions, policy, buckets)]


def usage_by_day_cached(  # noqa: PLR0917 - callers pass the period positionally
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    start: float,
    end: float,
    now: float,
) -> list[tuple[Bucket, UsageFigures]]:
    """Per-day figures of one instrument; clean roll-ups for whole closed days, live otherwise."""
    zone = ZoneInfo(config.site.timezone)
    days = split_by_day(start, end, zone)
    stored = _stored_values(conn, [row["id"]], _whole_closed_days(days, now, zone)).get(
        row["id"], {}
    )
    missing = [b for b in days if b.key not in stored]
    live = iter(live_buckets(conn, row, config, missing, now))
    return [(b, UsageFigures(*stored[b.key]) if b.key in stored else next(live)) for b in days]


GroupBy = Literal["instrument", "unit", "day", "month"]


def usage_grouped(  # noqa: PLR0917 - the period and the grouping, as the API has them
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    config: CollectorConfig,
    start: float,
    end: float,
    now: float,
    group_by: GroupBy,
    *,
    check: Callable[[], None] | None = None,
) -> dict[str, UsageFigures]:
    """Per-day figures of ``rows`` over ``[start, end)`` summed by instrument, unit, day or month.

    ``check`` is called between pieces of work; it raises to abandon the query (the API's time
    budget, or a client that left).

    Whole closed days with a clean roll-up are summed by the database: a fleet year is 365,000
    roll-ups, and only parsing their JSON in Python takes seconds. Other days are computed live.
    Equal to summing :func:`usage_by_day_cached` up to the order of float additions.
    """
    zone = ZoneInfo(config.site.timezone)
    days = split_by_day(start, end, zone)
    whole = _whole_closed_days(days, now, zone)
    by_id = {str(r["id"]): r for r in rows}

    def key(row: Mapping[str, Any], day: str) -> str:
        if group_by == "instrument":
            return str(row["id"])
        if group_by == "unit":
            return str(row["unit"] or "")
        return day if group_by == "day" else day[:7]

    totals: dict[str, list[float]] = {}

    def add_to(group: str, values: Sequence[float]) -> None:
        total = totals.setdefault(group, [0.0] * len(FIGURE_NAMES))
        for k, value in enumerate(values):
            total[k] += value

    counts: dict[str, int] = defaultdict(int)
    for instrument_id, part, count, values in _stored_sums(conn, list(by_id), whole, group_by):
        counts[instrument_id] += count
        add_to(key(by_id[instrument_id], part), values)
    for instrument_id, row in by_id.items():
        if check is not None:
            check()
        present = whole if counts[instrument_id] == len(whole) else set()
        if counts[instrument_id] and not present:
            present = _present_days(conn, instrument_id, whole)
        missing = [b for b in days if b.key not in present]
        for bucket, figures in zip(
            missing, live_buckets(conn, row, config, missing, now), strict=True
        ):
            add_to(key(row, bucket.key), _values(figures))
    return {group: UsageFigures(*values) for group, values in totals.items()}


def _clean_rollups(whole: set[str]) -> ColumnElement[bool]:
    """Roll-ups of the ``whole`` days (a contiguous run) that no late data has made dirty."""
    d, dirty = tables.daily_usage, tables.dirty_days
    return and_(
        d.c.day >= min(whole),
        d.c.day <= max(whole),
        ~select(dirty.c.day)
        .where(and_(dirty.c.instrument_id == d.c.instrument_id, dirty.c.day == d.c.day))
        .exists(),
    )


def _figure_value(conn: Connection, name: str) -> ColumnElement[Any]:
    """One figure of the roll-up JSON as a number, in the database's own JSON dialect."""
    d = tables.daily_usage
    if conn.dialect.name == "sqlite":
        return func.json_extract(d.c.figures, f"$.{name}")
    value: ColumnElement[Any] = cast(d.c.figures, JSON)[name].as_float()
    return value


def _stored_sums(
    conn: Connection, ids: Sequence[str], whole: set[str], group_by: GroupBy
) -> Iterator[tuple[str, str, int, list[float]]]:
    """(instrument, day or month or "", roll-ups summed, figure sums) of the clean roll-ups."""
    if not whole or not ids:
        return
    d = tables.daily_usage
    part: ColumnElement[Any] = {
        "day": d.c.day,
        "month": func.substr(d.c.day, 1, 7),
    }.get(group_by, literal(""))
    sums = [func.coalesce(func.sum(_figure_value(conn, n)), 0.0) for n in FIGURE_NAMES]
    for k in range(0, len(ids), _ROLLUP_CHUNK):
        chunk = ids[k : k + _ROLLUP_CHUNK]
        query = select(d.c.instrument_id, part, func.count(), *sums).where(
            d.c.instrument_id.in_(chunk), _clean_rollups(whole)
        )
        grouping = (
            [d.c.instrument_id] if group_by in ("instrument", "unit") else [d.c.instrument_id, part]
        )
        for row in conn.execute(query.group_by(*grouping)):
            yield row[0], str(row[1]), int(row[2]), [float(v) for v in row[3:]]


def _present_days(conn: Connection, instrument_id: str, whole: set[str]) -> set[str]:
    d = tables.daily_usage
    query = select(d.c.day).where(d.c.instrument_id == instrument_id, _clean_rollups(whole))
    return set(conn.execute(query).scalars()) & whole


def _whole_closed_days(days: Sequence[Bucket], now: float, zone: ZoneInfo) -> set[str]:
    """Keys of the days that are whole local days ending before today (roll-up candidates)."""
    today_start = _today_start(now, zone)
    # Only the first and the last piece of a split can be partial days.
    edges = {days[0].key, days[-1].key} if days else set()
    return {
        b.key
        for b in days
        if b.end <= today_start
        and (b.key not in edges or _day_bounds(b.key, zone) == (b.start, b.end))
    }


_ZEROS = (0.0,) * len(FIGURE_NAMES)  # a figure missing from a stored roll-up is 0 s
_ROLLUP_CHUNK = 500  # instruments per roll-up query (bound parameters stay well under limits)


def _stored_values(
    conn: Connection, ids: Sequence[str], whole: set[str]
) -> dict[str, dict[str, list[float]]]:
    """Clean roll-ups of the ``whole`` days: figure values in ``FIGURE_NAMES`` order."""
    out: dict[str, dict[str, list[float]]] = {}
    if not whole or not ids:
        return out
    d, dirty = tables.daily_usage, tables.dirty_days
    first, last = min(whole), max(whole)
    for k in range(0, len(ids), _ROLLUP_CHUNK):
        rows = conn.execute(
            select(d.c.instrument_id, d.c.day, d.c.figures).where(
                d.c.instrument_id.in_(ids[k : k + _ROLLUP_CHUNK]),
                d.c.day >= first,
                d.c.day <= last,
                ~select(dirty.c.day)
                .where(and_(dirty.c.instrument_id == d.c.instrument_id, dirty.c.day == d.c.day))
                .exists(),
            )
        ).all()
        kept = [(i, day, text) for i, day, text in rows if day in whole]
        # One parse of a JSON array is several times cheaper than one json.loads per row.
        parsed = json.loads("[" + ",".join([text for _, _, text in kept]) + "]")
        for (instrument_id, day, _), data in zip(kept, parsed, strict=True):
            out.setdefault(instrument_id, {})[day] = list(map(data.get, FIGURE_NAMES, _ZEROS))
    return out


def _values(figures: UsageFigures) -> list[float]:
    return [getattr(figures, name) for name in FIGURE_NAMES]


def _dump(figures: UsageFigures) -> str:
    return json.dumps({name: getattr(figures, name) for name in FIGURE_NAMES})


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
    with engines.read.connect() as conn:
        marks = _dirty_marks(conn, now, zone, max_days, instruments)
        todo: dict[str, set[str]] = defaultdict(set)
        for instrument_id, day in marks:
            todo[instrument_id].add(day)
        _add_missing_days(conn, todo, now, zone, instruments)
        computed = _compute_days(conn, config, todo, now=now, zone=zone, max_days=max_days)
    if not computed:
        return 0
    _store_days(engines, computed, marks, now)
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
    """The closed days marked dirty (late data), with when they were marked."""
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    dirty = (
        conn.execute(
            select(tables.dirty_days).where(tables.dirty_days.c.day < today).limit(max_days)
        )
        .mappings()
        .all()
    )
    marks = {(r["instrument_id"], r["day"]): r["marked_at"] for r in dirty}
    if instruments is not None:
        wanted = set(instruments)
        marks = {k: v for k, v in marks.items() if k[0] in wanted}
    return marks


def _add_missing_days(
    conn: Connection,
    todo: dict[str, set[str]],
    now: float,
    zone: ZoneInfo,
    instruments: Collection[str] | None,
) -> None:
    """Add to ``todo`` every closed day since an instrument's first span without a roll-up."""
    t, s = tables.instruments, tables.spans
    # One index lookup per instrument; a GROUP BY over all spans reads every span.
    firsts = conn.execute(
        select(
            t.c.id,
            select(func.min(s.c.start)).where(s.c.instrument_id == t.c.id).scalar_subquery(),
        )
    ).all()
    if instruments is not None:
        wanted = set(instruments)
        firsts = [r for r in firsts if r[0] in wanted]
    have = conn.execute(
        select(
            tables.daily_usage.c.instrument_id, func.count(), func.min(tables.daily_usage.c.day)
        ).group_by(tables.daily_usage.c.instrument_id)
    ).all()
    counts = {r[0]: int(r[1]) for r in have}
    today_start = _today_start(now, zone)
    today_date = datetime.fromtimestamp(today_start, zone).date()
    for instrument_id, first in firsts:
        if first is None or first >= today_start:
            continue
        # The closed days since the first span (what ``split_by_day`` would count).
        if (
            counts.get(instrument_id, 0)
            >= (today_date - datetime.fromtimestamp(first, zone).date()).days
        ):
            continue
        present = set(
            conn.execute(
                select(tables.daily_usage.c.day).where(
                    tables.daily_usage.c.instrument_id == instrument_id
                )
            ).scalars()
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
    computed: Computed = []
    for instrument_id, day_keys in todo.items():
        row = queries.get_instrument(conn, instrument_id)
        if row is None:
            continue
        keys = sorted(day_keys)[: max(0, max_days - len(computed))]
        if not keys:
            break
        lo = _day_bounds(keys[0], zone)[0]
        hi = _day_bounds(keys[-1], zone)[1]
        wanted = [b for b in split_by_day(lo, hi, zone) if b.key in day_keys]
        figures = live_buckets(conn, row, config, wanted, now)
        computed.extend((row, bucket, f) for bucket, f in zip(wanted, figures, strict=True))
    return computed


def _store_days(
    engines: Engines, computed: Computed, marks: Mapping[tuple[str, str], float], now: float
) -> None:
    """Write the roll-ups and clear the marks not renewed while they were computed."""
    with engines.write.begin() as conn:
        stmt = upsert(conn, tables.daily_usage)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["instrument_id", "day"],
                set_={"figures": stmt.excluded.figures, "computed_at": stmt.excluded.computed_at},
            ),
            [
                {
                    "instrument_id": row["id"],
                    "day": bucket.key,
                    "figures": _dump(figures),
                    "computed_at": now,
                }
                for row, bucket, figures in computed
            ],
        )
        # Only marks not renewed while we computed are cleared (late data keeps its mark).
        dd = tables.dirty_days
        if marks:
            conn.execute(
                delete(dd).where(
                    dd.c.instrument_id == bindparam("d_instrument"),
                    dd.c.day == bindparam("d_day"),
                    dd.c.marked_at <= bindparam("d_marked_at"),
                ),
                [
                    {"d_instrument": i, "d_day": day, "d_marked_at": marked_at}
                    for (i, day), marked_at in marks.items()
                ],
            )


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
