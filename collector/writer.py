"""Writes one batch of received messages into the ledger in one transaction.

Theory of operation. A batch is dead letters plus accepted wire messages. In one transaction:
dedupe on ``(boot_id, seq)`` against the ``boots`` rows (locked, so two collectors sharing a
PostgreSQL never both take one message), lock the instruments the batch touches (sorted, so two
collectors cannot deadlock), merge observations into each instrument's spans with the pure
:mod:`jishi.collector.timeline` rules, and write the changed rows with ``executemany``. The
caller acknowledges the MQTT messages only after the commit, so a crash loses nothing: the
broker redelivers and the dedupe drops what was already stored.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jishi.agent.wire import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    STALE_AFTER_FACTOR,
    HeartbeatMessage,
    Message,
    SessionMessage,
    StateMessage,
    StatusMessage,
)
from jishi.collector import seqranges, tables
from jishi.collector.config import InstrumentEntry
from jishi.collector.intake import Reason
from jishi.collector.timeline import UNKNOWN, Coverage, observe
from sqlalchemy import Connection, Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

_MAX_TEXT = 200
_HOT_COLUMNS = ("state", "state_since", "last_ts", "last_seen", "heartbeat_interval_s", "boot_id")
_SPAN_COLUMNS = ("instrument_id", "state", "start", "end", "last_ts", "observations", "historical")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: float
    topic: str
    reason: Reason
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Incoming:
    message: Message
    received_at: float


@dataclass
class BatchOutcome:
    stored: int = 0
    duplicates: int = 0
    dead: Counter[str] = field(default_factory=Counter)


def effective_stale_after_s(row: Mapping[str, Any]) -> float:
    """``stale_after`` of an instrument: override, else announced, else 2.5 x heartbeat."""
    for key in ("stale_after_s", "announced_stale_after_s"):
        if row.get(key):
            return float(row[key])
    interval = row.get("heartbeat_interval_s") or DEFAULT_HEARTBEAT_INTERVAL_S
    return STALE_AFTER_FACTOR * float(interval)


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_TEXT]


def upsert(conn: Connection, table: Table) -> Any:
    """A dialect ``INSERT`` that supports ``on_conflict_do_nothing``/``do_update``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass
class _Span:
    id: int | None
    cov: Coverage
    observations: int
    historical: bool
    changed: bool = False


class _Book:
    """The spans of one instrument that a batch can touch, sorted by start."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.spans = sorted(
            (
                _Span(
                    id=r["id"],
                    cov=Coverage(r["start"], r["end"], r["state"], r["last_ts"]),
                    observations=r["observations"],
                    historical=r["historical"],
                )
                for r in rows
            ),
            key=lambda s: s.cov.start,
        )
        self.deleted: list[int] = []
        self.touched: list[tuple[float, float]] = []

    def observe(self, ts: float, state: str, stale_s: float, historical: bool) -> None:
        i = bisect.bisect_right([s.cov.start for s in self.spans], ts)
        lo = max(i - 1, 0)
        hi = min(i + 1, len(self.spans))
        old = self.spans[lo:hi]
        prev = self.spans[i - 1].cov if i > 0 else None
        nxt = self.spans[i].cov if i < len(self.spans) else None
        out = observe(prev, nxt, ts, state, stale_s)
        rows: list[_Span] = []
        for k, cov in enumerate(out):
            span = old[k] if k < len(old) else _Span(None, cov, 0, False)
            if span.cov != cov:
                span.cov, span.changed = cov, True
            rows.append(span)
        self.deleted.extend(s.id for s in old[len(out) :] if s.id is not None)
        holder = next((s for s in rows if s.cov.start <= ts < s.cov.end), rows[-1])
        holder.observations += 1
        holder.historical = holder.historical or historical
        holder.changed = True
        self.spans[lo:hi] = rows
        self.touched.append((ts, ts + stale_s))


class LedgerWriter:
    """Applies batches; holds only configuration, so several threads or processes may write."""

    def __init__(
        self, registry: Mapping[str, InstrumentEntry], timezone: str, dead_letter_max_bytes: int
    ) -> None:
        self.registry = registry
        self.zone = ZoneInfo(timezone)
        self.dead_letter_max_bytes = dead_letter_max_bytes

    def write(
        self, conn: Connection, items: Sequence[Incoming | DeadLetter], now: float
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        dead = [item for item in items if isinstance(item, DeadLetter)]
        if dead:
            conn.execute(
                insert(tables.dead_letters),
                [
                    {
                        "received_at": d.received_at,
                        "topic": d.topic[:300],
                        "reason": d.reason.value,
                        "detail": d.detail[:2000],
                        "size": len(d.payload),
                        "payload": d.payload[: self.dead_letter_max_bytes],
                    }
                    for d in dead
                ],
            )
            outcome.dead.update(d.reason.value for d in dead)
        fresh = self._dedupe(conn, [i for i in items if isinstance(i, Incoming)], now)
        outcome.duplicates = sum(isinstance(i, Incoming) for i in items) - len(fresh)
        if fresh:
            self._apply(conn, fresh, now)
        outcome.stored = len(fresh)
        return outcome

    # --- dedupe ---------------------------------------------------------------------------

    def _dedupe(self, conn: Connection, items: list[Incoming], now: float) -> list[Incoming]:
        if not items:
            return []
        boot_ids = sorted({i.message.boot_id for i in items})
        b = tables.boots

        def locked(ids: list[str]) -> dict[str, seqranges.Ranges]:
            rows = conn.execute(
                select(b.c.boot_id, b.c.ranges)
                .where(b.c.boot_id.in_(ids))
                .order_by(b.c.boot_id)
                .with_for_update()
            ).all()
            return {row.boot_id: seqranges.parse(row.ranges) for row in rows}

        ranges = locked(boot_ids)
        missing = [boot for boot in boot_ids if boot not in ranges]
        if missing:
            # Another collector may insert the same boot now: do nothing, then lock what is there.
            conn.execute(
                upsert(conn, b).on_conflict_do_nothing(),
                [
                    {"boot_id": k, "ranges": "", "first_seen": now, "last_seen": now}
                    for k in missing
                ],
            )
            ranges.update(locked(missing))
        fresh = [i for i in items if seqranges.add(ranges[i.message.boot_id], i.message.seq)]
        conn.execute(
            update(b)
            .where(b.c.boot_id == bindparam("b_id"))
            .values(ranges=bindparam("b_ranges"), last_seen=now),
            [{"b_id": k, "b_ranges": seqranges.format_ranges(v)} for k, v in ranges.items()],
        )
        return fresh

    # --- instruments and spans ------------------------------------------------------------

    def _lock_instruments(
        self, conn: Connection, by_instrument: Mapping[str, list[Incoming]], now: float
    ) -> dict[str, dict[str, Any]]:
        ids = sorted(by_instrument)
        t = tables.instruments

        def locked(wanted: list[str]) -> dict[str, dict[str, Any]]:
            rows = conn.execute(
                select(t).where(t.c.id.in_(wanted)).order_by(t.c.id).with_for_update()
            ).mappings()
            return {row["id"]: dict(row) for row in rows}

        found = locked(ids)
        missing = [i for i in ids if i not in found]
        if not missing:
            return found
        new_rows = []
        for instrument_id in missing:
            entry = self.registry.get(instrument_id)
            first = by_instrument[instrument_id][0].message
            new_rows.append(
                {
                    "id": instrument_id,
                    "site": (entry.site if entry and entry.site else first.site),
                    "name": entry.name if entry else None,
                    "unit": entry.unit if entry else None,
                    "category": entry.category if entry else "general",
                    "quota_h": entry.quota_h if entry else None,
                    "inner_id": entry.inner_id if entry else None,
                    "stale_after_s": entry.stale_after_s if entry else None,
                    "registered": entry is not None,
                    "created_at": now,
                }
            )
        conn.execute(upsert(conn, t).on_conflict_do_nothing(), new_rows)
        found.update(locked(missing))
        for instrument_id in missing:
            found[instrument_id]["_full"] = True
        return found

    def _load_books(
        self, conn: Connection, by_instrument: Mapping[str, list[Incoming]]
    ) -> dict[str, _Book]:
        s = tables.spans
        ids = sorted(by_instrument)
        latest = (
            select(s.c.instrument_id, func.max(s.c.start).label("start"))
            .where(s.c.instrument_id.in_(ids))
            .group_by(s.c.instrument_id)
            .subquery()
        )
        last_rows = conn.execute(
            select(s).join(
                latest,
                and_(s.c.instrument_id == latest.c.instrument_id, s.c.start == latest.c.start),
            )
        ).mappings()
        last: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in last_rows:
            last[row["instrument_id"]].append(dict(row))
        books: dict[str, _Book] = {}
        for instrument_id in ids:
            times = [
                t for t in (_obs_time(i) for i in by_instrument[instrument_id]) if t is not None
            ]
            found = last.get(instrument_id, [])
            if not times or not found or min(times) >= found[0]["start"]:
                books[instrument_id] = _Book(found)
            else:
                books[instrument_id] = _Book(
                    self._window(conn, instrument_id, min(times), max(times))
                )
        return books

    def _window(
        self, conn: Connection, instrument_id: str, lo: float, hi: float
    ) -> list[dict[str, Any]]:
        """Every span an observation in ``[lo, hi]`` may touch (late data, replays)."""
        s = tables.spans
        mine = s.c.instrument_id == instrument_id
        queries = (
            select(s).where(mine, s.c.start <= lo).order_by(s.c.start.desc()).limit(1),
            select(s).where(mine, s.c.start > lo, s.c.start <= hi),
            select(s).where(mine, s.c.start > hi).order_by(s.c.start).limit(1),
        )
        return [dict(row) for query in queries for row in conn.execute(query).mappings()]

    def _apply(self, conn: Connection, items: list[Incoming], now: float) -> None:
        by_instrument: dict[str, list[Incoming]] = defaultdict(list)
        for item in items:
            by_instrument[item.message.instrument].append(item)
        instruments = self._lock_instruments(conn, by_instrument, now)
        books = self._load_books(conn, by_instrument)
        sessions: list[dict[str, Any]] = []
        for instrument_id, incoming in by_instrument.items():
            row, book = instruments[instrument_id], books[instrument_id]
            for item in incoming:
                self._apply_one(row, book, item, sessions)
        self._flush(conn, instruments, books, sessions, now)

    def _apply_one(
        self,
        row: dict[str, Any],
        book: _Book,
        item: Incoming,
        sessions: list[dict[str, Any]],
    ) -> None:
        message, received = item.message, item.received_at
        row["last_seen"] = max(row["last_seen"] or 0.0, received)
        ts = message.ts.timestamp()
        if isinstance(message, StatusMessage):
            self._apply_status(row, book, message, received)
            return
        if isinstance(message, SessionMessage):
            sessions.append(_session_row(message, ts))
            return
        if isinstance(message, HeartbeatMessage) and not row["heartbeat_interval_s"]:
            row["heartbeat_interval_s"] = message.interval_s
        stale = effective_stale_after_s(row)
        since = message.since.timestamp()
        if isinstance(message, StateMessage) and since < ts:
            # The change began at ``since`` (the agent's dwell time): known from there.
            book.observe(since, message.state.value, ts - since + stale, message.historical)
        else:
            book.observe(ts, message.state.value, stale, message.historical)
        if row["last_ts"] is None or ts >= row["last_ts"]:
            if row["state"] != message.state.value or isinstance(message, StateMessage):
                row["state_since"] = since
            row["state"] = message.state.value
            row["last_ts"] = ts
            if row["boot_id"] is None:
                row["boot_id"] = message.boot_id

    def _apply_status(
        self, row: dict[str, Any], book: _Book, message: StatusMessage, received: float
    ) -> None:
        row["_full"] = True
        if message.online:
            row["online"] = True
            row["online_changed_at"] = received
            row["boot_id"] = message.boot_id
            row["site"] = row["site"] or message.site
            if message.heartbeat_interval_s:
                row["heartbeat_interval_s"] = message.heartbeat_interval_s
            row["announced_stale_after_s"] = message.stale_after_s
            if not row["registered"]:
                row["name"] = _clip(message.name)
                row["unit"] = _clip(message.unit)
                if message.category in ("general", "specialised"):
                    row["category"] = message.category
            else:
                row["name"] = row["name"] or _clip(message.name)
                row["unit"] = row["unit"] or _clip(message.unit)
        elif row["boot_id"] in (None, message.boot_id):
            # A last will of an older boot (retained, redelivered) says nothing about this one.
            row["online"] = False
            row["online_changed_at"] = received
            book.observe(received, UNKNOWN, 0.0, False)

    def _flush(
        self,
        conn: Connection,
        instruments: Mapping[str, dict[str, Any]],
        books: Mapping[str, _Book],
        sessions: list[dict[str, Any]],
        now: float,
    ) -> None:
        s = tables.spans
        updates, inserts, deleted = _span_changes(books)
        today = datetime.fromtimestamp(now, self.zone).date()
        dirty: set[tuple[str, str]] = set()
        for instrument_id, book in books.items():
            for lo, hi in book.touched:
                dirty.update(_days_before(instrument_id, lo, hi, today, self.zone))
        if deleted:
            conn.execute(delete(s).where(s.c.id.in_(deleted)))
        if updates:
            conn.execute(
                update(s)
                .where(s.c.id == bindparam("s_id"))
                .values({c: bindparam(f"s_{c}") for c in _SPAN_COLUMNS}),
                updates,
            )
        if inserts:
            conn.execute(insert(s), inserts)
        t = tables.instruments
        # Heartbeats change only a few columns; status messages and new rows write them all.
        full = [c.name for c in t.columns if c.name not in ("id", "created_at")]
        for columns, rows in (
            (full, [r for r in instruments.values() if r.get("_full")]),
            (list(_HOT_COLUMNS), [r for r in instruments.values() if not r.get("_full")]),
        ):
            if rows:
                conn.execute(
                    update(t)
                    .where(t.c.id == bindparam("i_id"))
                    .values({c: bindparam(f"i_{c}") for c in columns}),
                    [{"i_id": row["id"], **{f"i_{c}": row[c] for c in columns}} for row in rows],
                )
        if sessions:
            self._write_sessions(conn, sessions, now)
        if dirty:
            conn.execute(
                upsert(conn, tables.dirty_days).on_conflict_do_update(
                    index_elements=["instrument_id", "day"], set_={"marked_at": now}
                ),
                [{"instrument_id": i, "day": d, "marked_at": now} for i, d in sorted(dirty)],
            )

    def _write_sessions(self, conn: Connection, sessions: list[dict[str, Any]], now: float) -> None:
        table = tables.sessions
        for values in sessions:
            stmt = upsert(conn, table).values(created_at=now, source="agent", **values)
            changes = {k: v for k, v in values.items() if v is not None and k != "external_id"}
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instrument_id", "source", "external_id"], set_=changes
                )
            )


def _span_changes(
    books: Mapping[str, _Book],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """Rows to update, rows to insert and ids to delete after a batch was merged."""
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    deleted: list[int] = []
    for instrument_id, book in books.items():
        deleted.extend(book.deleted)
        for span in book.spans:
            if not span.changed:
                continue
            values = {
                "instrument_id": instrument_id,
                "state": span.cov.state,
                "start": span.cov.start,
                "end": span.cov.end,
                "last_ts": span.cov.last_ts,
                "observations": span.observations,
                "historical": span.historical,
            }
            if span.id is None:
                inserts.append(values)
            else:
                updates.append({"s_id": span.id, **{f"s_{k}": v for k, v in values.items()}})
    return updates, inserts, deleted


def _obs_time(item: Incoming) -> float | None:
    """Where in time a message touches the spans (None: it does not)."""
    message = item.message
    if isinstance(message, StatusMessage):
        return None if message.online else item.received_at
    if isinstance(message, StateMessage):
        return min(message.since, message.ts).timestamp()
    if isinstance(message, HeartbeatMessage):
        return message.ts.timestamp()
    return None


def _session_row(message: SessionMessage, ts: float) -> dict[str, Any]:
    values: dict[str, Any] = {
        "instrument_id": message.instrument,
        "external_id": message.session_id[:200],
        "user": _clip(message.user),
        "org": _clip(message.org),
        "user_type": message.user_type.value if message.user_type else None,
        "start_ts": ts if message.event == "start" else None,
        "end_ts": ts if message.event == "end" else None,
    }
    return values


def _days_before(
    instrument_id: str, lo: float, hi: float, today: Any, zone: ZoneInfo
) -> Iterable[tuple[str, str]]:
    """Closed days (before today, site time zone) that ``[lo, hi)`` touches: their roll-ups
    must be recomputed."""
    day = datetime.fromtimestamp(lo, zone).date()
    last = min(datetime.fromtimestamp(hi, zone).date(), today - timedelta(days=1))
    while day <= last:
        yield instrument_id, day.isoformat()
        day += timedelta(days=1)
