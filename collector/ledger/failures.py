"""Whose fault a failed ledger write is: the database's (retry) or one message's (dead letter).

Ingest acknowledges an MQTT message only after its commit (ingest/pipeline.py), so the two
causes of a failed write must be told apart (issue 17):

- **The database is unavailable, or not as the collector left it**: the connection is lost,
  the server shuts down, a table or column is missing, permission is denied, the disk is full,
  memory runs out, a deadlock, a read-only standby after a failover. No message is at fault and
  every message would fail the same way: the batch stays unacknowledged (the broker keeps it),
  ingest retries with back-off and health says ``degraded``. Dead-lettering here would ack, and
  so lose, every valid message that arrives while a DBA renames a table.
- **A message is refused**: one of its values is not storable (a data exception such as a NUL
  character in a PostgreSQL text field, a constraint violation, a value past a program limit).
  That message alone becomes a ``store_error`` dead letter; the others are stored.

PostgreSQL says which with its SQLSTATE, whose first two characters are the class (PostgreSQL
manual, Appendix A "Error Codes"). Without one (SQLite; psycopg failing before the server
answered) the DB-API class decides: ``OperationalError`` and ``InterfaceError`` are the
database's, anything else the message's, as SQLite uses ``OperationalError`` for a missing
table, a locked or full database and I/O errors, and ``DataError``/``IntegrityError`` for values.
"""

from __future__ import annotations

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from jishi.errors import JishiError

# SQLSTATE classes of a database that cannot take any write now (Appendix A).
UNAVAILABLE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "25",  # invalid transaction state: a read-only standby after a failover (25006)
        "28",  # invalid authorization: the collector's password or role changed
        "3D",  # invalid catalog name: the database is gone
        "3F",  # invalid schema name
        "40",  # transaction rollback: deadlock, serialization failure (transient)
        "42",  # syntax error or access rule violation: a table or column missing, permission
        "53",  # insufficient resources: disk full, out of memory, too many connections
        "55",  # object not in prerequisite state: a lock not available
        "57",  # operator intervention: shutdown, a cancelled statement
        "58",  # system error: I/O error
        "F0",  # configuration file error
        "XX",  # internal error: corrupted data or index
    }
)


class LedgerUnavailable(JishiError):  # noqa: N818 - a state of the database, not a mistake
    """A ledger write failed for the database's reasons: keep the batch and retry later."""


def sqlstate(exc: SQLAlchemyError) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error (psycopg 3 ``sqlstate``, psycopg2
    ``pgcode``), or None."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def database_unavailable(exc: SQLAlchemyError) -> bool:
    """True when ``exc`` is the database's failure, not a value of the message(s) written."""
    if isinstance(exc, DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code[:2] in UNAVAILABLE_CLASSES
    return isinstance(exc, OperationalError | InterfaceError)


def reason_of(exc: SQLAlchemyError) -> str:
    """A short text of the failure for logs and health (the driver's message, no SQL)."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip()
