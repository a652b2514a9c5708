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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
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
from sqlalchemy import Boolean, Connection, Table, and_, delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

_MAX_TEXT = 200
_HOT_COLUMNS = ("state", "state_since", "last_ts", "last_seen", "heartbeat_interval_s", "boot_id")
_SPAN_COLUMNS = ("instrument_id", "state", "start", "end", "last_ts", "observations", "historical")


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class DeadLetter:
    received_at: float
    topic: str
    reason: Reason
    detail: str
    payload: bytes


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Incoming:
    message: Message
    received_at: float


@dataclass
class BatchOutcome:
    stored: int = 0
    duplicates: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    # Stored messages in batch order and their instruments' rows after the batch (sink mirror).
    fresh: list[Incoming] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    # The start the row has in the ledger (None: not stored yet).
    stored_start: float | None = None


class _Book:
    """The spans of one instrument that a batch can touch, sorted by start.

    Each observation replaces the (at most two) spans around it with what
    :func:`jishi.collector.timeline.observe` returns. Rows are reused where they can be: an
    output span equal to an old one keeps its row untouched, other outputs take the remaining
    old rows in order (an UPDATE), any left over are deleted and any missing are inserted. The
    ``observations`` counts are conserved: what a deleted row held moves to the span that took
    the observation.

    The book holds a contiguous run of the instrument's spans in ledger order. Observations can
    merge away its last span; ``successor`` then fetches the next stored one (the first after
    ``frontier``, the last span read from the ledger), so an observation near the end always
    sees its true neighbour. ``successor`` is None when nothing is stored after the book.
    """

    def __init__(
        self,
        spans: list[_Span],
        successor: Callable[[tuple[float, float]], _Span | None] | None = None,
    ) -> None:
        if len(spans) > 1:
            # A zero-length span (a last will) sorts before a longer one starting with it.
            spans.sort(key=lambda s: (s.cov.start, s.cov.end))
        self.spans = spans
        self.starts = [s.cov.start for s in self.spans]
        self.successor = successor
        self.frontier = (self.spans[-1].cov.start, self.spans[-1].cov.end) if self.spans else None
        self.deleted: list[int] = []
        self.touched: list[tuple[float, float]] = []

    def observe(self, ts: float, state: str, stale_s: float, historical: bool) -> None:
        spans = self.spans
        i = bisect.bisect_right(self.starts, ts)
        if i == len(spans) and self.successor is not None and self.frontier is not None:
            self._load_successor(self.successor, self.frontier)
        lo, hi = max(i - 1, 0), min(i + 1, len(spans))
        prev = spans[i - 1].cov if i > 0 else None
        nxt = spans[i].cov if i < len(spans) else None
        out = observe(prev, nxt, ts, state, stale_s)
        # What changed lies between ts and the furthest end of the spans around it, before or
        # after the merge: a run cut short changes days its new end no longer reaches. (An
        # unchanged neighbour may add a few days; they are recomputed for nothing, and only
        # for late data: today's observations skip the calendar.)
        ends = [ts + stale_s] + [s.cov.end for s in spans[lo:hi]] + [c.end for c in out]
        self.touched.append((ts, max(ends)))
        if hi - lo == 1 and len(out) == 1:
            # The usual case, a run extended (or one neighbour replaced): the single output
            # span holds the observation and takes the single row.
            span = spans[lo]
            span.cov = out[0]
            self.starts[lo] = out[0].start
            span.observations += 1
            span.historical = span.historical or historical
            span.changed = True
            return
        free = spans[lo:hi]
        placed: list[_Span] = []
        pending: list[int] = []
        for k, cov in enumerate(out):
            for span in free:
                if span.cov == cov:
                    free.remove(span)
                    placed.append(span)
                    break
            else:
                placed.append(_Span(None, cov, 0, False))
                pending.append(k)
        for k in pending:
            span = placed[k]
            if free:  # reuse a stored row (an UPDATE rather than DELETE + INSERT)
                reused = free.pop(0)
                reused.cov = span.cov
                placed[k] = span = reused
            span.changed = True
        # The observation's own span: the last one of its state starting at or before it.
        holder = placed[-1]
        for span in reversed(placed):
            if span.cov.state == state and span.cov.start <= ts:
                holder = span
                break
        for span in free:
            holder.observations += span.observations
            if span.id is not None:
                self.deleted.append(span.id)
        holder.observations += 1
        holder.historical = holder.historical or historical
        holder.changed = True
        spans[lo:hi] = placed
        self.starts[lo:hi] = [span.cov.start for span in placed]

    def _load_successor(
        self,
        successor: Callable[[tuple[float, float]], _Span | None],
        frontier: tuple[float, float],
    ) -> None:
        span = successor(frontier)
        if span is None:
            self.successor = None
            return
        self.frontier = (span.cov.start, span.cov.end)
        self.spans.append(span)
        self.starts.append(span.cov.start)


def _span(row: Mapping[Any, Any]) -> _Span:
    """A stored span row (by column name) as the writer's record of it."""
    return _Span(
        id=row["id"],
        cov=Coverage(row["start"], row["end"], row["state"], row["last_ts"]),
        observations=row["observations"],
        historical=bool(row["historical"]),
        stored_start=row["start"],
    )


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
            outcome.fresh, outcome.rows = fresh, self._apply(conn, fresh, now)
        outcome.stored = len(fresh)
        return outcome

    # --- dedupe ---------------------------------------------------------------------------

    def _dedupe(self, conn: Connection, items: list[Incoming], now: float) -> list[Incoming]:
        if not items:
            return []
        boot_ids = sorted({i.message.boot_id for i in items})
        b = tables.boots

        def locked(ids: list[str]) -> dict[str, seqranges.Ranges]:
            rows = _select_in(
                conn,
                "SELECT boot_id, ranges FROM boots WHERE boot_id IN ({}) ORDER BY boot_id",
                ids,
            )
            return {boot_id: seqranges.parse(text) for boot_id, text in rows}

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
        grown = {i.message.boot_id for i in fresh}
        _many(
            conn,
            "UPDATE boots SET ranges = ?, last_seen = ? WHERE boot_id = ?",
            [(seqranges.format_ranges(ranges[k]), now, k) for k in sorted(grown)],
        )
        return fresh

    # --- instruments and spans ------------------------------------------------------------

    def _lock_instruments(
        self, conn: Connection, by_instrument: Mapping[str, list[Incoming]], now: float
    ) -> dict[str, dict[str, Any]]:
        ids = sorted(by_instrument)
        t = tables.instruments

        columns = [c.name for c in t.columns]
        booleans = [c.name for c in t.columns if isinstance(c.type, Boolean)]
        # Column names from tables.py; values are bound parameters.
        sql = f"SELECT {_quoted(columns)} FROM instruments WHERE id IN ({{}}) ORDER BY id"  # noqa: S608

        def locked(wanted: list[str]) -> dict[str, dict[str, Any]]:
            rows = _select_in(conn, sql, wanted)
            found = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
            for row in found.values():
                _as_bool(row, booleans)
            return found

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
        ids = sorted(by_instrument)
        last_rows = _select_in(conn, _LATEST_SPANS_SQL, ids, lock=False)
        last: dict[str, list[_Span]] = defaultdict(list)
        # Columns in _SPAN_READ order: id, instrument_id, state, start, end, last_ts, ...
        for span_id, instrument_id, state, start, end, last_ts, count, historical in last_rows:
            cov = Coverage(start, end, state, last_ts)
            last[instrument_id].append(_Span(span_id, cov, count, bool(historical), False, start))
        books: dict[str, _Book] = {}
        for instrument_id in ids:
            found = last.get(instrument_id, [])
            times = [_obs_time(i) for i in by_instrument[instrument_id]] if found else []
            known = [t for t in times if t is not None]
            if not known or min(known) >= found[0].cov.start:
                # Everything lands at or after the newest span: nothing stored comes after.
                books[instrument_id] = _Book(found)
            else:
                books[instrument_id] = self._window(conn, instrument_id, min(known), max(known))
        return books

    def _window(self, conn: Connection, instrument_id: str, lo: float, hi: float) -> _Book:
        """The spans observations in ``[lo, hi]`` may touch (late data, replays): the last one
        starting at or before ``lo``, those starting in ``(lo, hi]`` and the next one, with the
        ones after that fetched as merges need them."""
        s = tables.spans
        mine = s.c.instrument_id == instrument_id
        # Spans may share a start (a zero-length will, then a run): order as the merge does,
        # by (start, end), so the neighbours are the same as in the whole list.
        queries = (
            select(s)
            .where(mine, s.c.start <= lo)
            .order_by(s.c.start.desc(), s.c.end.desc())
            .limit(1),
            select(s).where(mine, s.c.start > lo, s.c.start <= hi),
            select(s).where(mine, s.c.start > hi).order_by(s.c.start, s.c.end).limit(1),
        )
        rows = [_span(row) for query in queries for row in conn.execute(query).mappings()]

        def successor(after: tuple[float, float]) -> _Span | None:
            start, end = after
            later = or_(s.c.start > start, and_(s.c.start == start, s.c.end > end))
            query = select(s).where(mine, later).order_by(s.c.start, s.c.end).limit(1)
            row = conn.execute(query).mappings().first()
            return None if row is None else _span(row)

        return _Book(rows, successor)

    def _apply(
        self, conn: Connection, items: list[Incoming], now: float
    ) -> dict[str, dict[str, Any]]:
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
        return instruments

    def _apply_one(
        self,
        row: dict[str, Any],
        book: _Book,
        item: Incoming,
        sessions: list[dict[str, Any]],
    ) -> None:
        message, received = item.message, item.received_at
        row["last_seen"] = max(row["last_seen"] or 0.0, received)
        if not row["site"]:  # registered before it ever reported (registry_sync)
            row["site"], row["_full"] = message.site, True
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
        moved, grown, inserts, deleted = _span_changes(books)
        today = datetime.fromtimestamp(now, self.zone).date()
        # Observations of today (nearly all of them) touch no closed day: skip the calendar.
        today_start = datetime.combine(today, dt_time(0), tzinfo=self.zone).timestamp()
        dirty: set[tuple[str, str]] = set()
        for instrument_id, book in books.items():
            for lo, hi in book.touched:
                if lo < today_start:
                    dirty.update(_days_before(instrument_id, lo, hi, today, self.zone))
        if deleted:
            conn.execute(delete(s).where(s.c.id.in_(deleted)))
        _many(conn, _SPAN_UPDATE_SQL, moved)
        # Most updates only move a run's end: leaving the indexed start alone is cheaper.
        _many(conn, _SPAN_GROW_SQL, grown)
        _many(conn, _SPAN_INSERT_SQL, inserts)
        t = tables.instruments
        # Heartbeats change only a few columns; status messages and new rows write them all.
        full = [c.name for c in t.columns if c.name not in ("id", "created_at")]
        for columns, rows in (
            (full, [r for r in instruments.values() if r.get("_full")]),
            (list(_HOT_COLUMNS), [r for r in instruments.values() if not r.get("_full")]),
        ):
            sql = f"UPDATE instruments SET {_assignments(columns)} WHERE id = ?"  # noqa: S608
            _many(conn, sql, [(*(row[c] for c in columns), row["id"]) for row in rows])
        if sessions:
            self._write_sessions(conn, sessions, now)
        _many(
            conn,
            "INSERT INTO dirty_days (instrument_id, day, marked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (instrument_id, day) DO UPDATE SET marked_at = excluded.marked_at",
            [(i, d, now) for i, d in sorted(dirty)],
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


# Hot statements go straight to the DBAPI cursor: SQLAlchemy's per-row parameter processing
# for ``executemany`` costs more than SQLite's own insert. Written with ``?`` placeholders;
# the SQL is plain enough for SQLite and PostgreSQL alike.
_IN_CHUNK = 10_000  # bound parameters per IN list, well under SQLite's and PostgreSQL's limits
_SPAN_READ = ("id", *_SPAN_COLUMNS)


def _quoted(columns: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def _assignments(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}" = ?' for c in columns)


# Column names below come from tables.py, never from input; every value is a bound parameter.
_LATEST_SPANS_SQL = (
    f"SELECT {_quoted(_SPAN_READ, 's.')} FROM spans s JOIN ("  # noqa: S608
    "SELECT instrument_id, MAX(start) AS start FROM spans WHERE instrument_id IN ({}) "
    "GROUP BY instrument_id) m ON s.instrument_id = m.instrument_id AND s.start = m.start"
)
_SPAN_UPDATE_SQL = f"UPDATE spans SET {_assignments(_SPAN_COLUMNS)} WHERE id = ?"  # noqa: S608
_SPAN_GROWN = ("state", "end", "last_ts", "observations", "historical")
_SPAN_GROW_SQL = f"UPDATE spans SET {_assignments(_SPAN_GROWN)} WHERE id = ?"  # noqa: S608
_SPAN_INSERT_SQL = (
    f"INSERT INTO spans ({_quoted(_SPAN_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_SPAN_COLUMNS))})"
)


def _driver_sql(conn: Connection, sql: str) -> str:
    """``?`` placeholders in the DBAPI's style (sqlite3: qmark; psycopg: format)."""
    return sql if conn.dialect.name == "sqlite" else sql.replace("?", "%s")


@contextmanager
def _raw_cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """The DBAPI cursor of this transaction. Its errors are raised as SQLAlchemy's
    (``OperationalError`` for a lost connection, a deadlock or a locked file, ``IntegrityError``
    ...), as errors of ``conn.execute`` are, so the pipeline retries or isolates the batch."""
    cursor = conn.connection.cursor()
    dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    try:
        yield cursor
    except dbapi_error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi_error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def _many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        with _raw_cursor(conn, sql) as cursor:
            cursor.executemany(_driver_sql(conn, sql), rows)


def _select_in(
    conn: Connection, sql: str, values: Sequence[Any], *, lock: bool = True
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` whose ``IN ({})`` takes ``values`` (chunked); ``lock`` adds FOR UPDATE
    on databases that have it (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    suffix = " FOR UPDATE" if lock and conn.dialect.name != "sqlite" else ""
    out: list[tuple[Any, ...]] = []
    # The DBAPI cursor: ``fetchall`` returns plain tuples several times faster than iterating
    # SQLAlchemy rows (thousands of rows per batch).
    with _raw_cursor(conn, sql) as cursor:
        for k in range(0, len(values), _IN_CHUNK):
            chunk = tuple(values[k : k + _IN_CHUNK])
            cursor.execute(
                _driver_sql(conn, sql.format(", ".join("?" * len(chunk))) + suffix), chunk
            )
            out.extend(cursor.fetchall())
    return out


def _as_bool(row: dict[str, Any], names: Iterable[str]) -> None:
    """SQLite returns booleans as 0/1; the rows leave this module with real booleans."""
    for name in names:
        if row[name] is not None:
            row[name] = bool(row[name])


def _span_changes(
    books: Mapping[str, _Book],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[int]]:
    """After a batch was merged: parameters of the full updates (the start moved), of the
    updates that keep the start (``_SPAN_GROWN``), of the inserts, and the ids to delete."""
    moved: list[tuple[Any, ...]] = []
    grown: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    deleted: list[int] = []
    for instrument_id, book in books.items():
        deleted.extend(book.deleted)
        for span in book.spans:
            if not span.changed:
                continue
            cov, count, historical = span.cov, span.observations, span.historical
            if span.id is None:
                inserts.append(
                    (instrument_id, cov.state, cov.start, cov.end, cov.last_ts, count, historical)
                )
            elif span.stored_start == cov.start:
                grown.append((cov.state, cov.end, cov.last_ts, count, historical, span.id))
            else:
                row = (instrument_id, cov.state, cov.start, cov.end, cov.last_ts, count, historical)
                moved.append((*row, span.id))
    return moved, grown, inserts, deleted


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
