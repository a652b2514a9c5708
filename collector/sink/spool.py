"""The sink's durable spool: line-protocol points in SQLite, sent and deleted in insertion order.

Points reach InfluxDB only from here, so an outage of any length (up to ``max_points``) loses
nothing and order is kept. The same file remembers when state points were written per instrument
(``state_marks``) so that late data can overwrite exactly those points later.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from jishi.errors import JishiError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enqueued_s REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state_marks (
    series TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    PRIMARY KEY (series, ts_ns)
) WITHOUT ROWID;
"""


class SpoolError(JishiError):
    """The spool file cannot be opened or written (disk full, permissions)."""


class Spool:
    """Thread-safe: one connection guarded by a lock; every call is one short transaction."""

    def __init__(self, path: Path, max_points: int) -> None:
        self.path = path
        self.max_points = max_points
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed batch survives power loss, which is the point of a spool.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._depth = int(self._db.execute("SELECT count(*) FROM points").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(f"cannot open spool {path}: {exc}") from exc

    @property
    def depth(self) -> int:
        return self._depth

    def append(self, lines: Sequence[str], marks: Iterable[tuple[str, int]], now_s: float) -> int:
        """Store points (and state marks) in one transaction; returns how many of the oldest
        points had to be dropped to stay under ``max_points``."""
        mark_rows = list(marks)
        if not lines and not mark_rows:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO points (enqueued_s, line) VALUES (?, ?)",
                    [(now_s, line) for line in lines],
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO state_marks (series, ts_ns) VALUES (?, ?)", mark_rows
                )
                dropped = 0
                excess = self._depth + len(lines) - self.max_points
                if excess > 0:
                    self._db.execute(
                        "DELETE FROM points WHERE id IN "
                        "(SELECT id FROM points ORDER BY id LIMIT ?)",
                        (excess,),
                    )
                    dropped = excess
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SpoolError(f"cannot write spool {self.path}: {exc}") from exc
            self._depth += len(lines) - dropped
            return dropped

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` points as ``(id, line)``, in insertion order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, line FROM points ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(row[0]), str(row[1])) for row in rows]

    def delete_through(self, last_id: int) -> None:
        """Forget every point up to and including ``last_id`` (they were written or rejected)."""
        with self._lock:
            try:
                removed = self._db.execute("DELETE FROM points WHERE id <= ?", (last_id,)).rowcount
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot write spool {self.path}: {exc}") from exc
            self._depth = max(0, self._depth - max(0, removed))

    def oldest_enqueued_s(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT min(enqueued_s) FROM points").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def marks_between(self, series: str, start_ns: int, end_ns: int) -> list[int]:
        """Times of state points written for ``series`` in ``[start_ns, end_ns)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ts_ns FROM state_marks WHERE series = ? AND ts_ns >= ? AND ts_ns < ? "
                "ORDER BY ts_ns",
                (series, start_ns, end_ns),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def prune_marks(self, before_ns: int) -> None:
        with self._lock:
            try:
                self._db.execute("DELETE FROM state_marks WHERE ts_ns < ?", (before_ns,))
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot write spool {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rollback(self) -> None:
        # No transaction may be open; the original error is what matters.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
