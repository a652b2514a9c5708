"""Database engines for the ledger (SQLite in WAL mode, or PostgreSQL) and schema migration."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from jishi.errors import JishiError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises migrations of collectors that start together on one PostgreSQL.
_PG_MIGRATION_LOCK = 0x6A697368


class DatabaseError(JishiError):
    """The ledger database cannot be reached or migrated."""


@dataclass(frozen=True)
class Engines:
    """``write`` takes SQLite's write lock at BEGIN; ``read`` never blocks the writer."""

    write: Engine
    read: Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.write.dialect.name

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite ledger file (None: PostgreSQL or in memory)."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in {None, "", ":memory:"}:
            return None
        return Path(str(parsed.database))

    def free_bytes(self) -> int | None:
        """Free space on the SQLite ledger's file system (None: PostgreSQL, or unknown)."""
        path = self.sqlite_path
        if path is None:
            return None
        try:
            return shutil.disk_usage(path.parent).free
        except OSError:
            return None

    def dispose(self) -> None:
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss; we ack MQTT messages only after the commit.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
        # connection wrote in between; taking the write lock up front makes writers queue.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# The first 16 bytes of every SQLite database file (https://sqlite.org/fileformat.html, 1.3).
SQLITE_HEADER = b"SQLite format 3\0"


def _not_a_ledger(path: Path) -> str | None:
    """Why an existing file cannot be the ledger (None: it looks like an SQLite database)."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head:
        return "is empty (0 bytes)"
    if head != SQLITE_HEADER:
        return "is not an SQLite database"
    return None


def check_ledger_file(path: Path, *, create: bool) -> None:
    """Refuse an existing ledger file that is empty, unreadable or not SQLite: SQLite would take
    a 0-byte file for a new database, and the history and tokens the operator expects there
    would be silently replaced by an empty ledger (issue 17, 6). With ``create`` the bad file
    is renamed aside (never deleted) and a new ledger is made. A missing file is a first
    start: it is created."""
    if not path.exists():
        return
    problem = _not_a_ledger(path)
    if problem is None:
        return
    if not create:
        raise DatabaseError(
            f"the ledger file {path} {problem}: refusing to start on it, as a new empty ledger "
            "would replace the history and tokens it should hold. Restore it from a backup; "
            "or, to start a new ledger, run 'jishi collector check --create-ledger' (the bad "
            "file is kept beside it as .bad-<time>)"
        )
    aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    log.warning("the ledger file %s %s: kept as %s, creating a new ledger", path, problem, aside)


def open_engines(url: str, *, create_ledger: bool = False) -> Engines:
    """Create the engines for ``url``; SQLite files get their folder created. An existing
    SQLite file that is not a ledger is refused (:func:`check_ledger_file`)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            check_ledger_file(Path(parsed.database), create=create_ledger)
        return Engines(
            write=_sqlite_engine(url, immediate=True),
            read=_sqlite_engine(url, immediate=False),
            url=url,
        )
    # PostgreSQL's JIT compiles a fleet-wide aggregate for ~130 ms before running it for less:
    # the ledger's queries are many and short, so it is off for the collector's sessions.
    engine = create_engine(
        url,
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
        connect_args={"options": "-c jit=off"},
    )
    return Engines(write=engine, read=engine, url=url)


def migrate(engines: Engines, revision: str = "head") -> None:
    """Bring the schema to ``revision``, by default the newest (Alembic, configured in code)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engines.write.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot migrate the ledger at {engines.url}: {exc.orig}") from None
    log.info("ledger schema is current (%s)", engines.dialect)
