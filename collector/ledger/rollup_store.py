"""Stored roll-ups: daily and monthly rows of usage figures, written and summed.

``daily_usage`` holds each closed local day of an instrument; ``monthly_usage`` the sum of a
closed month's daily rows from its ``first_day`` to its end, written only when every one of
those days has a row (see ``tables.monthly_usage``). A row is used only while no day it covers
is in ``dirty_days``. Figures are plain columns, so the database does the summing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
)

from jishi.collector.ledger import tables
from jishi.collector.ledger.sql import upsert
from jishi.collector.usage.engine import FIGURE_NAMES, UsageFigures
from jishi.collector.usage.periods import Bucket

CHUNK = 500  # instruments per query (bound parameters stay well under the databases' limits)


def figure_values(figures: UsageFigures) -> dict[str, float]:
    return {name: getattr(figures, name) for name in FIGURE_NAMES}


def month_end(month: str) -> str:
    """The last day (``YYYY-MM-DD``) of ``YYYY-MM``."""
    first = date.fromisoformat(month + "-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (following - timedelta(days=1)).isoformat()


def days_between(first: str, last: str) -> int:
    """Days from ``first`` to ``last``, both counted."""
    return (date.fromisoformat(last) - date.fromisoformat(first)).days + 1


def store_days(
    conn: Connection,
    computed: Sequence[tuple[str, Bucket, UsageFigures]],
    now: float,
) -> None:
    """Upsert daily rows ``(instrument, day bucket, figures)``."""
    if not computed:
        return
    stmt = upsert(conn, tables.daily_usage)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["instrument_id", "day"],
            set_={n: stmt.excluded[n] for n in (*FIGURE_NAMES, "computed_at")},
        ),
        [
            {"instrument_id": i, "day": b.key, **figure_values(f), "computed_at": now}
            for i, b, f in computed
        ],
    )


def clear_marks(conn: Connection, marks: Mapping[tuple[str, str], float]) -> None:
    """Clear dirty marks not renewed since they were read (late data keeps its mark)."""
    if not marks:
        return
    dd = tables.dirty_days
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


def rebuild_months(conn: Connection, months: Mapping[str, Collection[str]], now: float) -> int:
    """(Re)write the monthly rows of ``months`` (instrument -> closed ``YYYY-MM`` keys) from the
    daily rows; a month whose daily rows do not reach from their first day to the month's end
    loses its row. Returns the number of rows written."""
    d, m = tables.daily_usage, tables.monthly_usage
    sums = [func.sum(d.c[n]) for n in FIGURE_NAMES]
    month_of = func.substr(d.c.day, 1, 7)
    written: list[dict[str, Any]] = []
    gone: list[dict[str, str]] = []
    for instrument_id, keys in months.items():
        if not keys:
            continue
        query = (
            select(month_of, func.min(d.c.day), func.max(d.c.day), func.count(), *sums)
            .where(
                d.c.instrument_id == instrument_id,
                d.c.day >= min(keys) + "-01",
                d.c.day <= month_end(max(keys)),
            )
            .group_by(month_of)
        )
        found = {str(r[0]): r for r in conn.execute(query)}
        for key in keys:
            r = found.get(key)
            if r is None or r[2] != month_end(key) or int(r[3]) != days_between(r[1], r[2]):
                gone.append({"g_instrument": instrument_id, "g_month": key})
                continue
            values = dict(zip(FIGURE_NAMES, (float(v) for v in r[4:]), strict=True))
            row = {"instrument_id": instrument_id, "month": key, "first_day": r[1]}
            written.append({**row, "days": int(r[3]), **values, "computed_at": now})
    if gone:
        conn.execute(
            delete(m).where(
                m.c.instrument_id == bindparam("g_instrument"), m.c.month == bindparam("g_month")
            ),
            gone,
        )
    if written:
        stmt = upsert(conn, m)
        update = ("first_day", "days", *FIGURE_NAMES, "computed_at")
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["instrument_id", "month"],
                set_={n: stmt.excluded[n] for n in update},
            ),
            written,
        )
    return len(written)


def months_lacking(
    conn: Connection, before_month: str, ids: Collection[str] | None
) -> dict[str, set[str]]:
    """Closed months (before ``before_month``) of instruments with fewer monthly rows than
    months since their first daily row: all their closed months, to rebuild."""
    d, m = tables.daily_usage, tables.monthly_usage
    t = tables.instruments
    firsts = conn.execute(
        select(
            t.c.id,
            select(func.min(d.c.day)).where(d.c.instrument_id == t.c.id).scalar_subquery(),
            select(func.count())
            .select_from(m)
            .where(m.c.instrument_id == t.c.id, m.c.month < before_month)
            .scalar_subquery(),
        )
    ).all()
    out: dict[str, set[str]] = {}
    for instrument_id, first_day, have in firsts:
        if first_day is None or (ids is not None and instrument_id not in ids):
            continue
        months = _month_number(before_month) - _month_number(first_day[:7])
        if months > int(have or 0):
            out[instrument_id] = set(_months_from(first_day[:7], before_month))
    return out


def _month_number(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _months_from(first: str, before: str) -> list[str]:
    out: list[str] = []
    year, month = int(first[:4]), int(first[5:7])
    while f"{year:04d}-{month:02d}" < before:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _clean_day(d: Table) -> Any:
    """No dirty mark on a daily row's own day (an equality: PostgreSQL hashes the marks)."""
    dd = tables.dirty_days
    marked = select(dd.c.day).where(dd.c.instrument_id == d.c.instrument_id, dd.c.day == d.c.day)
    return ~marked.exists()


def _clean_month(m: Table) -> Any:
    """No dirty mark in a monthly row's month from its first day on (matched on the month, an
    equality the database can hash, not a range it would compare mark by mark)."""
    dd = tables.dirty_days
    marked = select(dd.c.day).where(
        dd.c.instrument_id == m.c.instrument_id,
        func.substr(dd.c.day, 1, 7) == m.c.month,
        dd.c.day >= m.c.first_day,
    )
    return ~marked.exists()


Group = str  # "instrument", "unit", "day" or "month": what the sums are keyed by


@dataclass
class Stored:
    """Stored roll-ups summed: each instrument's coverage ``(days, first day, last day)`` and
    the figure sums per group key (instrument id, unit or "", day, or month)."""

    coverage: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    sums: dict[str, list[float]] = field(default_factory=dict)


def _group_key(table: Table, group: Group) -> ColumnElement[Any]:
    if group == "unit":
        return func.coalesce(tables.instruments.c.unit, "")
    if group == "instrument":
        return table.c.instrument_id
    if table is tables.monthly_usage:
        return table.c.month
    return table.c.day if group == "day" else func.substr(table.c.day, 1, 7)


def _summed(  # noqa: PLR0917 - one query shape for both roll-up tables
    conn: Connection,
    table: Table,
    ids: Sequence[str] | None,
    where: Sequence[ColumnElement[bool]],
    cover: Sequence[ColumnElement[Any]],
    group: Group,
) -> Stored:
    """``cover`` = (days, first day, last day) aggregates; the instruments' coverage and the
    sums by ``group`` in one query per chunk (by instrument) or two (other groups: few rows
    come back instead of one per instrument and month)."""
    out = Stored()
    sums = [func.sum(table.c[n]) for n in FIGURE_NAMES]
    key = _group_key(table, group)
    with _hashed_marks(conn):
        _sum_chunks(conn, table, ids, where, (cover, sums, key), group, out)
    return out


@contextmanager
def _hashed_marks(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, the roll-up rows are matched against the dirty marks by a hash, never
    mark by mark: ``dirty_days`` churns (a roll-up pass empties it, late data fills it), so its
    statistics often say it is empty while it holds hundreds of marks, and the planner's nested
    loop then made 5 million comparisons for one day of a 10,000-instrument fleet (0.55 s
    instead of 0.03 s). ``SET LOCAL`` lasts until the end of the read transaction; the setting
    is put back at once."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
    try:
        yield
    finally:
        if postgres:
            conn.exec_driver_sql("SET LOCAL enable_nestloop TO DEFAULT")


def _sum_chunks(  # noqa: PLR0917 - the body of _summed, its query parts passed along
    conn: Connection,
    table: Table,
    ids: Sequence[str] | None,
    where: Sequence[ColumnElement[bool]],
    parts: tuple[Sequence[ColumnElement[Any]], list[Any], ColumnElement[Any]],
    group: Group,
    out: Stored,
) -> None:
    cover, sums, key = parts
    for k in range(0, len(ids), CHUNK) if ids is not None else [0]:
        scope = list(where)
        if ids is not None:  # else the whole fleet: no list of ids to send and compile
            scope.append(table.c.instrument_id.in_(ids[k : k + CHUNK]))
        by_instrument = select(table.c.instrument_id, *cover, *sums).where(*scope)
        if group != "instrument":
            by_instrument = select(table.c.instrument_id, *cover).where(*scope)
        for r in conn.execute(by_instrument.group_by(table.c.instrument_id)):
            out.coverage[r[0]] = (int(r[1]), r[2], r[3])
            if group == "instrument":
                out.sums[r[0]] = [float(v) for v in r[4:]]
        if group == "instrument":
            continue
        query = select(key, *sums).where(*scope)
        if group == "unit":
            query = query.join_from(
                table, tables.instruments, tables.instruments.c.id == table.c.instrument_id
            )
        for r in conn.execute(query.group_by(key)):
            total = out.sums.setdefault(str(r[0]), [0.0] * len(FIGURE_NAMES))
            total[:] = [a + float(b) for a, b in zip(total, r[1:], strict=True)]


def month_sums(
    conn: Connection, ids: Sequence[str] | None, first: str, last: str, group: Group
) -> Stored:
    """Valid monthly rows of months ``first``..``last`` of ``ids`` (None: every instrument);
    coverage up to each last month's end."""
    m = tables.monthly_usage
    valid = [
        m.c.month >= first,
        m.c.month <= last,
        _clean_month(m),
    ]
    cover = [func.sum(m.c.days), func.min(m.c.first_day), func.max(m.c.month)]
    stored = _summed(conn, m, ids, valid, cover, group)
    stored.coverage = {
        i: (days, lo, month_end(hi)) for i, (days, lo, hi) in stored.coverage.items()
    }
    return stored


def day_sums(
    conn: Connection, ids: Sequence[str] | None, spans: Sequence[tuple[str, str]], group: Group
) -> Stored:
    """Clean daily rows of ``ids`` (None: every instrument) in the day ranges ``spans``
    (inclusive pairs)."""
    if not spans:
        return Stored()
    d = tables.daily_usage
    within = [and_(d.c.day >= lo, d.c.day <= hi) for lo, hi in spans]
    valid = [or_(*within), _clean_day(d)]
    cover = [func.count(), func.min(d.c.day), func.max(d.c.day)]
    return _summed(conn, d, ids, valid, cover, group)


Detail = tuple[set[str], dict[str, list[float]]]


def covered_days(
    conn: Connection, ids: Sequence[str], first: str, last: str, month_range: tuple[str, str] | None
) -> dict[str, Detail]:
    """Stored coverage of ``first``..``last`` in detail, for instruments whose roll-ups leave
    holes, a few hundred per query: per instrument, the days its valid monthly rows (of
    ``month_range``) and clean daily rows outside them cover, and the figures of the clean daily
    rows inside that month range that no valid monthly row covers (which the fleet sums did not
    count)."""
    m, d = tables.monthly_usage, tables.daily_usage
    out: dict[str, Detail] = {i: (set(), defaultdict(list)) for i in ids}
    months: dict[str, dict[str, str]] = defaultdict(dict)
    with _hashed_marks(conn):
        for k in range(0, len(ids), CHUNK):
            chunk = ids[k : k + CHUNK]
            if month_range is not None:
                rows = conn.execute(
                    select(m.c.instrument_id, m.c.month, m.c.first_day).where(
                        m.c.instrument_id.in_(chunk),
                        m.c.month >= month_range[0],
                        m.c.month <= month_range[1],
                        _clean_month(m),
                    )
                )
                for instrument_id, month, first_day in rows:
                    months[instrument_id][month] = first_day
            daily = conn.execute(
                select(d.c.instrument_id, d.c.day, *(d.c[n] for n in FIGURE_NAMES)).where(
                    d.c.instrument_id.in_(chunk), d.c.day >= first, d.c.day <= last, _clean_day(d)
                )
            )
            for r in daily:
                _place_day(out[r[0]], months[r[0]], r[1], r[2:], month_range)
    for instrument_id, (covered, _extra) in out.items():
        for month, first_day in months[instrument_id].items():
            covered.update(_days(first_day, month_end(month)))
    return {i: (covered, dict(extra)) for i, (covered, extra) in out.items()}


def _place_day(
    detail: Detail,
    months: Mapping[str, str],
    day: str,
    values: Sequence[Any],
    month_range: tuple[str, str] | None,
) -> None:
    """One clean daily row: covered, and counted apart unless a monthly row has it."""
    covered, extra = detail
    inside = month_range is not None and month_range[0] <= day[:7] <= month_range[1]
    if inside and day[:7] in months and day >= months[day[:7]]:
        return  # the monthly row has it
    covered.add(day)
    if inside:
        extra[day] = [float(v) for v in values]


def _days(first: str, last: str) -> Iterator[str]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    while day <= end:
        yield day.isoformat()
        day += timedelta(days=1)
