"""Read side of the ledger: instrument views, timelines and sessions for the API and reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, func, or_, select, union_all

from jishi.agent.wire import iso_utc
from jishi.collector.ledger import tables
from jishi.collector.ledger.directory import directory_for
from jishi.collector.usage.engine import Session
from jishi.collector.usage.freshness import shown_state, stale_after_of
from jishi.collector.usage.timeline import Coverage, Interval, build_timeline
from jishi.collector.usage.users import apply_directory


def _iso(value: float | None) -> str | None:
    return None if value is None else iso_utc(datetime.fromtimestamp(value, UTC))


def instrument_view(row: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The API's instrument: the reported state only while fresh and online, else unknown."""
    stale = stale_after_of(row)
    last_ts = row["last_ts"]
    shown = shown_state(
        state=row["state"],
        state_since=row["state_since"],
        last_ts=last_ts,
        online=row["online"],
        online_changed_at=row["online_changed_at"],
        stale_s=stale,
        now=now,
    )
    state, since = shown.state, shown.since
    return {
        "id": row["id"],
        "name": row["name"] or row["id"],
        "site": row["site"] or None,  # None: registered, not heard from yet
        "unit": row["unit"],
        "category": row["category"],
        "state": state,
        "since": _iso(since),
        "online": bool(row["online"]) if row["online"] is not None else False,
        "last_seen": _iso(row["last_seen"]),
        "last_ts": _iso(last_ts),
        "stale_after_s": stale,
        "heartbeat_interval_s": row["heartbeat_interval_s"],
        "inner_id": row["inner_id"],
        "quota_h": row["quota_h"],
        "clock_offset_s": _rounded(row["clock_offset_s"]),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def list_instruments(conn: Connection, now: float, unit: str | None = None) -> list[dict[str, Any]]:
    t = tables.instruments
    query = select(t).order_by(t.c.id)
    if unit is not None:
        query = query.where(t.c.unit == unit)
    return [instrument_view(dict(row), now) for row in conn.execute(query).mappings()]


# What usage figures need of an instrument (its rules and its group); the API's usage route
# reads only these: 10,000 whole rows took 0.17 s on PostgreSQL.
USAGE_COLUMNS = ("id", "name", "unit", "category", "quota_h")


def instrument_rows(
    conn: Connection,
    ids: Sequence[str] | None = None,
    unit: str | None = None,
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The registry rows (all columns, or ``columns``), by id."""
    t = tables.instruments
    chosen = [t.c[c] for c in columns] if columns else [t]
    query = select(*chosen).order_by(t.c.id)
    if ids is not None:
        query = query.where(t.c.id.in_(ids))
    if unit is not None:
        query = query.where(t.c.unit == unit)
    return [dict(row) for row in conn.execute(query).mappings()]


def get_instrument(conn: Connection, instrument_id: str) -> dict[str, Any] | None:
    t = tables.instruments
    row = conn.execute(select(t).where(t.c.id == instrument_id)).mappings().first()
    return None if row is None else dict(row)


def coverage(conn: Connection, instrument_id: str, start: float, end: float) -> list[Coverage]:
    """Spans that can reach into ``[start, end)`` (normalized spans: cheap range query)."""
    s = tables.spans
    rows = conn.execute(
        select(s.c.start, s.c.end, s.c.state)
        .where(s.c.instrument_id == instrument_id, s.c.end >= start, s.c.start < end)
        .order_by(s.c.start)
    ).all()
    return [Coverage(r.start, r.end, r.state) for r in rows]


def coverage_many(
    conn: Connection, ids: Sequence[str], start: float, end: float, *, recent: bool = False
) -> dict[str, list[Coverage]]:
    """Spans of ``ids`` that can reach into ``[start, end)``. ``recent``: the range is near the
    newest data, so few spans end after ``start``: the condition on starts is written as an
    expression (``start + 0``) that no index serves, so the database reads the index on ends
    (SQLite otherwise walks each instrument's whole history by start, 10 times slower)."""
    s = tables.spans
    out: dict[str, list[Coverage]] = {i: [] for i in ids}
    starts = (s.c.start + 0) if recent else s.c.start
    query = select(s.c.instrument_id, s.c.start, s.c.end, s.c.state).where(
        s.c.instrument_id.in_(ids), s.c.end >= start, starts < end
    )
    if not recent:  # else sorted here: an ORDER BY on starts would draw SQLite to that index
        query = query.order_by(s.c.instrument_id, s.c.start)
    for r in conn.execute(query):
        out[r.instrument_id].append(Coverage(r.start, r.end, r.state))
    if recent:
        for spans in out.values():
            spans.sort(key=attrgetter("start"))
    return out


def timeline(conn: Connection, instrument_id: str, start: float, end: float) -> list[Interval]:
    return build_timeline(coverage(conn, instrument_id, start, end), start, end)


def span_cut(
    conn: Connection, instrument_id: str, start: float, end: float, max_spans: int
) -> float | None:
    """None when at most ``max_spans`` spans reach into ``[start, end)``; else where the next
    one starts, so that ``[start, cut)`` holds ``max_spans`` (a shorter range to ask for).
    Skips at most ``max_spans`` rows in (instrument, start) order; builds nothing."""
    s = tables.spans
    cut = conn.execute(
        select(s.c.start)
        .where(s.c.instrument_id == instrument_id, s.c.end >= start, s.c.start < end)
        .order_by(s.c.start)
        .offset(max_spans)
        .limit(1)
    ).scalar()
    return None if cut is None else float(cut)


def sessions_in(
    conn: Connection,
    ids: Sequence[str],
    start: float,
    end: float,
    now: float,
    *,
    recent: bool = False,
) -> dict[str, list[Session]]:
    """Sessions overlapping ``[start, end)``; an open session (no end yet) runs until ``now``.
    ``recent``: the range is near now, so few sessions end after ``start``: they are read by
    the index on ends (finished ones) and the open ones apart, not by each instrument's whole
    history of starts (22 ms for 500 instruments of a fleet, for one session)."""
    s = tables.sessions
    out: dict[str, list[Session]] = {i: [] for i in ids}
    began = [s.c.instrument_id.in_(ids), s.c.start_ts.is_not(None), s.c.start_ts < end]
    if recent:
        query = union_all(
            select(s).where(*began, s.c.end_ts > start),
            select(s).where(*began, s.c.end_ts.is_(None)),
        )
        rows = sorted(conn.execute(query).mappings(), key=itemgetter("start_ts"))
    else:
        either = or_(s.c.end_ts.is_(None), s.c.end_ts > start)
        rows = list(conn.execute(select(s).where(*began, either).order_by(s.c.start_ts)).mappings())
    for r in rows:
        stop = r["end_ts"] if r["end_ts"] is not None else max(now, r["start_ts"])
        out[r["instrument_id"]].append(
            Session(
                start=r["start_ts"],
                end=stop,
                user=r["user"],
                org=r["org"],
                user_type=r["user_type"],
                service_way=r["service_way"],
                direction=r["direction"],
                satisfaction=r["satisfaction"],
                sample_count=r["sample_count"],
                session_id=r["external_id"],
                contact=r["contact"],
            )
        )
    # The user directory decides who a session's user is when it is counted (issue 13), so
    # a corrected entry corrects past figures; see jishi.collector.usage.users.
    directory = directory_for(conn, (s.user for items in out.values() for s in items))
    return apply_directory(out, directory)


def session_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "instrument": row["instrument_id"],
        "source": row["source"],
        "external_id": row["external_id"],
        "start": _iso(row["start_ts"]),
        "end": _iso(row["end_ts"]),
        "user": row["user"],
        "org": row["org"],
        "contact": row["contact"],
        "user_type": row["user_type"],
        "service_way": row["service_way"],
        "direction": row["direction"],
        "satisfaction": row["satisfaction"],
        "sample_count": row["sample_count"],
        "end_reason": row["end_reason"],
        "outcome": row["outcome"],
    }


def list_sessions(
    conn: Connection,
    instrument_id: str | None,
    start: float | None,
    end: float | None,
    limit: int,
) -> list[dict[str, Any]]:
    s = tables.sessions
    query = select(s).order_by(s.c.start_ts, s.c.id).limit(limit)
    if instrument_id is not None:
        query = query.where(s.c.instrument_id == instrument_id)
    if end is not None:
        query = query.where(s.c.start_ts < end)
    if start is not None:
        query = query.where(or_(s.c.end_ts.is_(None), s.c.end_ts > start))
    return [session_view(dict(r)) for r in conn.execute(query).mappings()]


def count_spans(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(tables.spans)).scalar_one())
