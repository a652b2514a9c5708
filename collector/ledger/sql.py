"""SQL helpers shared by the ledger's writers: dialect upserts and fast DBAPI ``executemany``.

Hot statements go straight to the DBAPI cursor: SQLAlchemy's per-row parameter processing for
``executemany`` costs more than SQLite's own insert. They are written with ``?`` placeholders;
the SQL is plain enough for SQLite and PostgreSQL alike. Column names always come from
``tables.py``, never from input; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

IN_CHUNK = 10_000  # bound parameters per IN list, well under SQLite's and PostgreSQL's limits


def upsert(conn: Connection, table: Table) -> Any:
    """A dialect ``INSERT`` that supports ``on_conflict_do_nothing``/``do_update``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def quoted(columns: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def assignments(columns: Iterable[str]) -> str:
    return ", ".join(f'"{c}" = ?' for c in columns)


def driver_sql(conn: Connection, sql: str) -> str:
    """``?`` placeholders in the DBAPI's style (sqlite3: qmark; psycopg: format)."""
    return sql if conn.dialect.name == "sqlite" else sql.replace("?", "%s")


@contextmanager
def raw_cursor(conn: Connection, sql: str) -> Iterator[Any]:
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


def many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``executemany`` on the DBAPI cursor (nothing to do for no rows)."""
    if rows:
        with raw_cursor(conn, sql) as cursor:
            cursor.executemany(driver_sql(conn, sql), rows)


def fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Plain tuples of one query on the DBAPI cursor."""
    with raw_cursor(conn, sql) as cursor:
        cursor.execute(driver_sql(conn, sql), tuple(params))
        return list(cursor.fetchall())


def select_in(
    conn: Connection, sql: str, values: Sequence[Any], *, lock: bool = True
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` whose ``IN ({})`` takes ``values`` (chunked); ``lock`` adds FOR UPDATE
    on databases that have it (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    suffix = " FOR UPDATE" if lock and conn.dialect.name != "sqlite" else ""
    out: list[tuple[Any, ...]] = []
    # The DBAPI cursor: ``fetchall`` returns plain tuples several times faster than iterating
    # SQLAlchemy rows (thousands of rows per batch).
    with raw_cursor(conn, sql) as cursor:
        for k in range(0, len(values), IN_CHUNK):
            chunk = tuple(values[k : k + IN_CHUNK])
            cursor.execute(
                driver_sql(conn, sql.format(", ".join("?" * len(chunk))) + suffix), chunk
            )
            out.extend(cursor.fetchall())
    return out
