"""The durable outbox: every message is written here (SQLite, WAL, fsync'd) before it is
published, and deleted only when the broker acknowledges it (PUBACK).

Theory of operation:

* ``put`` commits with ``synchronous=FULL`` so a message the agent observed survives
  ``kill -9`` and power loss at any instant; SQLite's journal makes the write atomic.
* Rows are read back per instrument in ``id`` order (the order they were observed), so replay
  after an outage preserves order; ``seq`` increases with ``id`` within a boot.
* ``ack`` deletes acknowledged rows in batches (one transaction per batch keeps replay fast).
* The outbox is bounded by ``max_bytes`` of payload. When full, heartbeats are thinned first,
  oldest first; ``state`` and ``session`` messages are never dropped (they carry the usage
  arithmetic; a heartbeat only extends coverage). Every drop is counted persistently.
* A full disk (issue 17, 5) never raises out of :meth:`Outbox.put_or_hold`: a message SQLite
  refuses, and every message after it, waits in memory (:mod:`jishi.agent.held`) and is
  written, in order, by the next write or :meth:`Outbox.retry` once space returns. An outbox
  that cannot even be opened (the shared-memory index needs space too) is opened again later;
  until then the agent runs from memory. The log says so once when writes start failing and
  once when they work again.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jishi.agent.held import HeldMessage, HeldMessages
from jishi.agent.outbox_stats import OutboxStats
from jishi.errors import JishiError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instrument TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    boot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created REAL NOT NULL,
    -- Unused since the link decides ``historical`` alone; kept so older files still open.
    offline INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_instrument ON outbox (instrument, id);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Kinds that may be thinned when the outbox is full; everything else is kept.
THINNABLE_KINDS = ("hb",)
# While the outbox cannot be opened, opening is tried again at most this often.
REOPEN_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class OutboxRow(HeldMessage):
    """One message waiting in the outbox (stamped with its boot id and seq), and its row id."""

    id: int


class OutboxFullError(JishiError):
    """The disk refused a write (full, read-only); the bound itself never refuses a state."""


class Outbox:
    """A thread-safe durable FIFO per instrument. One writer process per data dir."""

    def __init__(self, path: Path, *, max_bytes: int = 200 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._bytes = 0
        self._dropped = 0
        self._last_drop_log = -1e9
        self._held = HeldMessages(THINNABLE_KINDS)
        self._next_open = 0.0
        self._written_from_memory = 0
        # Since when (wall clock) writes fail, and why; None while the outbox is writable.
        self.unwritable_since: float | None = None
        self.last_error: str | None = None
        self._open()

    def _open(self) -> bool:
        """Open the database if it is not open; False (said once) if the disk refuses. Tried at
        most every ``REOPEN_EVERY_S``. A file that is not a database still raises."""
        if self._db is not None:
            return True
        now = time.monotonic()
        if now < self._next_open:
            return False
        self._next_open = now + REOPEN_EVERY_S
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: fsync the WAL on every commit, so a committed message survives power loss.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
            dropped = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        except (sqlite3.OperationalError, OSError) as exc:
            # Full disk: even reading a WAL database needs room for its shared-memory index.
            if db is not None:
                db.close()
            self._refused(f"cannot open the outbox at {self.path}: {exc}")
            return False
        self._db = db
        self._bytes = int(row[0])
        self._dropped = int(dropped[0]) if dropped else 0
        return True

    def _refused(self, error: str) -> None:
        """A write failed: say so once per spell, with what it means."""
        self.last_error = error
        if self.unwritable_since is not None:
            return
        self.unwritable_since = time.time()
        self._written_from_memory = 0
        log.warning(
            "%s; holding new messages in memory until it can be written again (states kept, "
            "heartbeats thinned to the latest; held messages are lost if the agent is killed "
            "before then)",
            error,
        )

    def _writable_again(self) -> None:
        if self.unwritable_since is None:
            return
        thinned = self._held.dropped
        if thinned:
            # Heartbeats thinned in memory join the persistent drop count.
            with contextlib.suppress(sqlite3.Error):
                self._set_meta("dropped", str(self._dropped + thinned))
                self._dropped += thinned
                self._held.dropped = 0
        log.warning(
            "outbox writable again after %.0f s: wrote %d message(s) held in memory "
            "(%d older heartbeat(s) thinned while held)",
            time.time() - self.unwritable_since,
            self._written_from_memory,
            thinned,
        )
        self.unwritable_since = None
        self.last_error = None

    # --- writing -------------------------------------------------------------------------

    def put_or_hold(self, message: HeldMessage) -> int | None:
        """Store one message durably and return its row id, or, if the disk refuses, hold it
        in memory behind any held before it and return None. Never raises for a full disk."""
        with self._lock:
            self._held.hold(message)
            return self._write_held()

    def retry(self) -> int:
        """Write what is held in memory if the disk takes it now; how many were written."""
        with self._lock:
            before = len(self._held)
            if before or self._db is None:
                self._write_held()
            return before - len(self._held)

    def _write_held(self) -> int | None:
        """Write held messages in order until one is refused (lock held). The last row id if
        all were written, else None."""
        if not self._open():
            return None
        row_id = None
        while (message := self._held.first()) is not None:
            try:
                row_id = self._insert(message)
            except sqlite3.OperationalError as exc:
                self._refused(f"cannot write the outbox at {self.path}: {exc}")
                return None
            self._held.pop_first()
            self._written_from_memory += 1
        self._writable_again()
        return row_id

    def holding(self, instrument: str | None = None) -> int:
        """How many messages (of one instrument) wait in memory for the outbox."""
        with self._lock:
            return self._held.count(instrument)

    def put(
        self,
        *,
        instrument: str,
        kind: str,
        topic: str,
        payload: bytes,
        boot_id: str,
        seq: int,
        created: float | None = None,
    ) -> int:
        """Store one message durably; returns its row id. Thins heartbeats if over the bound.
        ``created`` (seconds since the epoch) defaults to now; the links' age rule reads it.
        Raises ``OutboxFullError`` if the disk refuses (the agent uses :meth:`put_or_hold`)."""
        message = HeldMessage(
            instrument,
            kind,
            topic,
            payload,
            boot_id,
            seq,
            time.time() if created is None else created,
        )
        with self._lock:
            if not self._open():
                raise OutboxFullError(self.last_error or f"cannot open the outbox at {self.path}")
            try:
                return self._insert(message)
            except sqlite3.OperationalError as exc:
                raise OutboxFullError(f"cannot write the outbox at {self.path}: {exc}") from exc

    def _insert(self, m: HeldMessage) -> int:
        """INSERT one row, then thin if over the bound (lock held, database open)."""
        db = self._connection()
        cursor = db.execute(
            "INSERT INTO outbox (instrument, kind, topic, payload, boot_id, seq, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (m.instrument, m.kind, m.topic, m.payload, m.boot_id, m.seq, m.created),
        )
        self._bytes += len(m.payload)
        if self._bytes > self.max_bytes:
            try:
                self._thin()
            except sqlite3.Error:
                # The message itself is stored; thinning is retried on the next put.
                log.exception("thinning the outbox failed")
        row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxFullError(self.last_error or f"the outbox at {self.path} is not open")
        return self._db

    def _thin(self) -> None:
        """Drop oldest heartbeats until under the bound (called with the lock held)."""
        excess = self._bytes - self.max_bytes
        dropped = 0
        freed = 0
        while freed < excess:
            rows = (
                self._connection()
                .execute(
                    f"SELECT id, LENGTH(payload) FROM outbox WHERE kind IN "  # noqa: S608 - constant
                    f"({','.join('?' * len(THINNABLE_KINDS))}) ORDER BY id LIMIT 256",
                    THINNABLE_KINDS,
                )
                .fetchall()
            )
            if not rows:
                break
            chosen: list[int] = []
            size_chosen = 0
            for row_id, size in rows:
                chosen.append(row_id)
                size_chosen += size
                if freed + size_chosen >= excess:
                    break
            with self._transaction():
                self._connection().executemany(
                    "DELETE FROM outbox WHERE id = ?", [(i,) for i in chosen]
                )
                self._set_meta("dropped", str(self._dropped + dropped + len(chosen)))
            # Counted only once committed, so a failed delete leaves the figures exact.
            dropped += len(chosen)
            freed += size_chosen
        self._bytes -= freed
        self._dropped += dropped
        # Once a minute at most: a full outbox during a long outage thins on every put.
        now = time.monotonic()
        if now - self._last_drop_log < 60:
            return
        self._last_drop_log = now
        if dropped:
            log.warning(
                "outbox full (bound %d bytes): dropped oldest heartbeats (%d dropped in all); "
                "state and session messages are kept",
                self.max_bytes,
                self._dropped,
            )
        if self._bytes > self.max_bytes:
            log.warning(
                "outbox holds %d bytes of state/session messages, above its %d byte bound; "
                "they are never dropped",
                self._bytes,
                self.max_bytes,
            )

    def ack(self, row_ids: Iterable[int]) -> None:
        """Delete acknowledged rows in one transaction (ids already gone are ignored)."""
        ids = list(row_ids)
        if not ids:
            return
        with self._lock:
            freed = 0
            try:
                with self._transaction():
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        marks = ",".join("?" * len(chunk))
                        for (size,) in self._connection().execute(
                            f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING LENGTH(payload)",  # noqa: S608
                            chunk,
                        ):
                            freed += int(size)
            except sqlite3.OperationalError as exc:
                # A delete appends to the WAL too: on a full disk the caller keeps the ids.
                raise OutboxFullError(f"cannot write the outbox at {self.path}: {exc}") from exc
            self._bytes = max(0, self._bytes - freed)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error: a failed statement must never leave the
        shared connection inside a transaction, or every later put would go uncommitted."""
        self._connection().execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection().execute("ROLLBACK")
            raise
        self._connection().execute("COMMIT")

    # --- reading -------------------------------------------------------------------------

    def pending(self, instrument: str, *, after_id: int = 0, limit: int = 500) -> list[OutboxRow]:
        """Unacknowledged rows of one instrument, oldest first, with ``id > after_id``."""
        with self._lock:
            if self._db is None:
                return []  # nothing is stored until the outbox opens
            rows = (
                self._connection()
                .execute(
                    "SELECT id, instrument, kind, topic, payload, boot_id, seq, created "
                    "FROM outbox WHERE instrument = ? AND id > ? ORDER BY id LIMIT ?",
                    (instrument, after_id, limit),
                )
                .fetchall()
            )
        return [OutboxRow(r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7], id=r[0]) for r in rows]

    def stats(self, instrument: str | None = None) -> OutboxStats:
        where, args = ("WHERE instrument = ?", (instrument,)) if instrument else ("", ())
        with self._lock:
            rows = []
            if self._db is not None:
                rows = self._db.execute(
                    f"SELECT kind, COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MIN(created) "  # noqa: S608
                    f"FROM outbox {where} GROUP BY kind",
                    args,
                ).fetchall()
            return OutboxStats.of_rows(
                rows,
                self._dropped + self._held.dropped,
                held=self._held.count(instrument),
                held_oldest=self._held.oldest_created(instrument),
            )

    @property
    def dropped(self) -> int:
        return self._dropped + self._held.dropped

    def _meta(self, key: str) -> str | None:
        row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._connection().execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_meta(self, key: str) -> str | None:
        """None also while the outbox cannot be opened (a full disk at start)."""
        with self._lock:
            if self._db is None:
                return None
            return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        """Raises ``OutboxFullError`` if the disk refuses; the caller tries again later."""
        with self._lock:
            try:
                self._set_meta(key, value)
            except sqlite3.OperationalError as exc:
                raise OutboxFullError(f"cannot write the outbox at {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._held:
                self._write_held()  # a last try: the disk may have room by now
            if self._held:
                log.error(
                    "closing with %d message(s) held in memory that the outbox never took: "
                    "they are lost",
                    len(self._held),
                )
            if self._db is not None:
                self._db.close()
                self._db = None
