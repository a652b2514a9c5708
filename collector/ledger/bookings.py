"""Bookings in the ledger (issue 13): stored apart from sessions, read for reconciliation.

A CSV import inserts or updates by ``(instrument, source, booking id)``. A calendar feed is the
whole truth about its window: a pull replaces the feed's bookings that start inside the window,
so an event deleted or cancelled in the calendar disappears here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.ledger.sql import upsert
from jishi.collector.usage.bookings import Booking, BookingRecord

# Columns a repeated import leaves as first stored.
_KEEP = frozenset({"external_id", "created_at"})


def _row(record: BookingRecord, source: str, now: float) -> dict[str, Any]:
    b = record.booking
    return {
        "instrument_id": record.instrument,
        "source": source,
        "external_id": b.booking_id,
        "start_ts": b.start,
        "end_ts": b.end,
        "user": b.user,
        "title": b.title,
        "all_day": b.all_day,
        "created_at": now,
    }


def unknown_booking_instruments(
    engines: Engines, records: Sequence[BookingRecord]
) -> list[tuple[int | None, str]]:
    """``(line, problem)`` for each record whose instrument the ledger does not know."""
    if not records:
        return []
    with engines.read.connect() as conn:
        return _unknown(conn, records)


def _check_instruments(conn: Connection, records: Sequence[BookingRecord]) -> None:
    problems = _unknown(conn, records)
    if problems:
        raise SessionImportError(problems)


def _unknown(conn: Connection, records: Sequence[BookingRecord]) -> list[tuple[int | None, str]]:
    t = tables.instruments
    ids = sorted({r.instrument for r in records})
    known = set(conn.execute(select(t.c.id).where(t.c.id.in_(ids))).scalars())
    problems = [(r.line, f"unknown instrument {r.instrument!r}") for r in records]
    return [p for p, r in zip(problems, records, strict=True) if r.instrument not in known]


def store_bookings(
    engines: Engines, records: Sequence[BookingRecord], source: str, now: float
) -> int:
    """Insert or update ``records`` in one transaction; unknown instruments fail the lot."""
    if not records:
        return 0
    with engines.write.begin() as conn:
        _check_instruments(conn, records)
        for record in records:
            values = _row(record, source, now)
            stmt = upsert(conn, tables.bookings).values(**values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instrument_id", "source", "external_id"],
                    set_={k: v for k, v in values.items() if k not in _KEEP},
                )
            )
    return len(records)


def replace_feed(  # noqa: PLR0917 - one feed's pull: what, from where, which window, when
    engines: Engines,
    instrument: str,
    source: str,
    bookings: Sequence[Booking],
    window: tuple[float, float],
    now: float,
) -> int:
    """Make the feed's bookings starting in ``window`` exactly ``bookings``."""
    b = tables.bookings
    records = [BookingRecord(instrument, booking) for booking in bookings]
    with engines.write.begin() as conn:
        _check_instruments(conn, [BookingRecord(instrument, Booking(0, 1, "-"))])
        conn.execute(
            delete(b).where(
                b.c.instrument_id == instrument,
                b.c.source == source,
                b.c.start_ts >= window[0],
                b.c.start_ts < window[1],
            )
        )
        if records:
            conn.execute(upsert(conn, b), [_row(r, source, now) for r in records])
    return len(records)


def bookings_in(
    conn: Connection, ids: Sequence[str], start: float, end: float
) -> dict[str, list[Booking]]:
    """Every instrument's bookings overlapping ``[start, end)``, by start."""
    b = tables.bookings
    out: dict[str, list[Booking]] = {i: [] for i in ids}
    rows = conn.execute(
        select(b)
        .where(b.c.instrument_id.in_(ids), b.c.start_ts < end, b.c.end_ts > start)
        .order_by(b.c.start_ts, b.c.id)
    ).mappings()
    for r in rows:
        out[r["instrument_id"]].append(
            Booking(
                start=r["start_ts"],
                end=r["end_ts"],
                booking_id=f"{r['source']}:{r['external_id']}",
                user=r["user"],
                title=r["title"],
                all_day=bool(r["all_day"]),
            )
        )
    return out
