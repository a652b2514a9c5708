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
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message waiting in the outbox, with the boot id and seq it was stamped with."""

    id: int
    instrument: str
    kind: str
    topic: str
    payload: bytes
    boot_id: str
    seq: int
    created: float


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The outbox's depth, size, oldest message and drops, as heartbeats and ``jishi agent status``
    report them."""

    depth: int
    bytes: int
    oldest_created: float | None
    dropped: int
    depth_by_kind: dict[str, int]

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]], dropped: int) -> OutboxStats:
        """From ``(kind, count, bytes, oldest created)`` rows grouped by kind."""
        by_kind = {r[0]: int(r[1]) for r in rows}
        oldest = [r[3] for r in rows if r[3] is not None]
        return cls(
            depth=sum(by_kind.values()),
            bytes=sum(int(r[2]) for r in rows),
            oldest_created=min(oldest) if oldest else None,
            dropped=dropped,
            depth_by_kind=by_kind,
        )


class OutboxFullError(JishiError):
    """Raised only if the disk itself refuses the write (the bound never refuses a state)."""


class Outbox:
    """A thread-safe durable FIFO per instrument. One writer process per data dir."""

    def __init__(self, path: Path, *, max_bytes: int = 200 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync the WAL on every commit, so a committed message survives power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._bytes = int(row[0])
        self._dropped = int(self._meta("dropped") or 0)
        self._last_drop_log = -1e9

    # --- writing -------------------------------------------------------------------------

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
        ``created`` (seconds since the epoch) defaults to now; the links' age rule reads it."""
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO outbox (instrument, kind, topic, payload, boot_id, seq, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        instrument,
                        kind,
                        topic,
                        payload,
                        boot_id,
                        seq,
                        time.time() if created is None else created,
                    ),
                )
            except sqlite3.OperationalError as exc:
                raise OutboxFullError(f"cannot write the outbox at {self.path}: {exc}") from exc
            self._bytes += len(payload)
            if self._bytes > self.max_bytes:
                try:
                    self._thin()
                except sqlite3.Error:
                    # The message itself is stored; thinning is retried on the next put.
                    log.exception("thinning the outbox failed")
            row_id = cursor.lastrowid
            assert row_id is not None
            return row_id

    def _thin(self) -> None:
        """Drop oldest heartbeats until under the bound (called with the lock held)."""
        excess = self._bytes - self.max_bytes
        dropped = 0
        freed = 0
        while freed < excess:
            rows = self._db.execute(
                f"SELECT id, LENGTH(payload) FROM outbox WHERE kind IN "  # noqa: S608 - constant
                f"({','.join('?' * len(THINNABLE_KINDS))}) ORDER BY id LIMIT 256",
                THINNABLE_KINDS,
            ).fetchall()
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
                self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in chosen])
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
            with self._transaction():
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for (size,) in self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING LENGTH(payload)",  # noqa: S608
                        chunk,
                    ):
                        freed += int(size)
            self._bytes = max(0, self._bytes - freed)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error: a failed statement must never leave the
        shared connection inside a transaction, or every later put would go uncommitted."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- reading -------------------------------------------------------------------------

    def pending(self, instrument: str, *, after_id: int = 0, limit: int = 500) -> list[OutboxRow]:
        """Unacknowledged rows of one instrument, oldest first, with ``id > after_id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, instrument, kind, topic, payload, boot_id, seq, created "
                "FROM outbox WHERE instrument = ? AND id > ? ORDER BY id LIMIT ?",
                (instrument, after_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7]) for r in rows]

    def stats(self, instrument: str | None = None) -> OutboxStats:
        where, args = ("WHERE instrument = ?", (instrument,)) if instrument else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT kind, COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MIN(created) "  # noqa: S608
                f"FROM outbox {where} GROUP BY kind",
                args,
            ).fetchall()
        return OutboxStats.of_rows(rows, self._dropped)

    @property
    def dropped(self) -> int:
        return self._dropped

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._set_meta(key, value)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def read_stats(path: Path) -> OutboxStats | None:
    """Outbox figures read-only, for ``jishi agent status`` while the agent runs."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), MIN(created) "
            "FROM outbox GROUP BY kind"
        ).fetchall()
        dropped_row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
    finally:
        db.close()
    return OutboxStats.of_rows(rows, int(dropped_row[0]) if dropped_row else 0)
