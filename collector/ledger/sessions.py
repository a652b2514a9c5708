"""Storing user sessions from the API and CSV imports (all-or-nothing, idempotent by id)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.session_input import SessionImportError, SessionRecord
from jishi.collector.ledger.sql import upsert


def store_sessions(
    engines: Engines, records: Sequence[SessionRecord], source: str, now: float, timezone: str
) -> int:
    """Insert or update ``records`` in one transaction; unknown instruments fail the lot."""
    if not records:
        return 0
    zone = ZoneInfo(timezone)
    with engines.write.begin() as conn:
        problems = _unknown(conn, records)
        if problems:
            raise SessionImportError(problems)
        for r in records:
            values = _row(r, source)
            stmt = upsert(conn, tables.sessions).values(created_at=now, **values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instrument_id", "source", "external_id"],
                    set_={k: v for k, v in values.items() if k != "external_id"},
                )
            )
        mark_dirty_days(
            conn, [(r.instrument, r.session.start, r.session.end) for r in records], now, zone
        )
    return len(records)


def mark_dirty_days(
    conn: Connection,
    stretches: Iterable[tuple[str, float, float]],
    now: float,
    zone: ZoneInfo,
) -> None:
    """Mark the closed days that ``(instrument, start, end)`` touch for a new roll-up: a
    session, or a directory entry its user matches, changed what those days count."""
    dirty: set[tuple[str, str]] = set()
    today = datetime.fromtimestamp(now, zone).date()
    for instrument, start, end in stretches:
        day = datetime.fromtimestamp(start, zone).date()
        last = min(datetime.fromtimestamp(end, zone).date(), today - timedelta(days=1))
        while day <= last:
            dirty.add((instrument, day.isoformat()))
            day += timedelta(days=1)
    if dirty:
        conn.execute(
            upsert(conn, tables.dirty_days).on_conflict_do_update(
                index_elements=["instrument_id", "day"], set_={"marked_at": now}
            ),
            [{"instrument_id": i, "day": d, "marked_at": now} for i, d in sorted(dirty)],
        )


def unknown_instruments(
    engines: Engines, records: Sequence[SessionRecord]
) -> list[tuple[int | None, str]]:
    """``(line, problem)`` for each record whose instrument the ledger does not know, so a
    CSV import can report these with its other bad rows at once (``store_sessions`` checks
    again in its transaction)."""
    if not records:
        return []
    with engines.read.connect() as conn:
        return _unknown(conn, records)


def _unknown(conn: Connection, records: Sequence[SessionRecord]) -> list[tuple[int | None, str]]:
    ids = sorted({r.instrument for r in records})
    t = tables.instruments
    known = set(conn.execute(select(t.c.id).where(t.c.id.in_(ids))).scalars())
    return [
        (r.line, f"unknown instrument {r.instrument!r}")
        for r in records
        if r.instrument not in known
    ]


def _row(record: SessionRecord, source: str) -> dict[str, object]:
    """The sessions-table columns of ``record`` (``session_id`` is the external id)."""
    s = record.session
    if s.session_id is None:
        raise ValueError("a stored session needs a session_id")
    return {
        "instrument_id": record.instrument,
        "source": source,
        "external_id": s.session_id,
        "start_ts": s.start,
        "end_ts": s.end,
        "user": s.user,
        "org": s.org,
        "contact": s.contact,
        "user_type": s.user_type,
        "service_way": s.service_way,
        "direction": s.direction,
        "satisfaction": s.satisfaction,
        "sample_count": s.sample_count,
    }
