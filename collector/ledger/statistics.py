"""Planner statistics of a PostgreSQL ledger, kept fresh by the collector itself.

The usage queries read a few spans per instrument through the (instrument, end) and
(instrument, start) indexes. PostgreSQL picks those only while its statistics say how few rows
a range of ``end`` holds; with the statistics of a table that has since grown (a bulk import, a
first year of data, a server run with ``autovacuum = off``, as the Debian test machines are) it
estimates millions and reads all 18 million spans of a 10,000-instrument fleet for one day
(1.7 s instead of 5 ms per chunk of 500 instruments). Autovacuum analyzes a table once a tenth
of it changed; :func:`refresh_statistics` does the same from the collector's housekeeping, so
the ledger does not depend on the server's autovacuum settings. SQLite keeps no statistics
unless asked (its plans were tuned without them), so nothing is done there.
"""

from __future__ import annotations

from sqlalchemy import text

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines

# As autovacuum's default analyze threshold (50 rows + 10 %), with a floor that keeps the small,
# busy tables (instruments, boots: every heartbeat updates them) from an ANALYZE every pass.
_MIN_CHANGES = 1000
_SHARE = 0.1

_STALE_SQL = text(
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND n_mod_since_analyze > :floor + :share * n_live_tup "
    "ORDER BY relname"
)


def stale_tables(engines: Engines) -> list[str]:
    """The ledger's tables changed by more than a tenth since PostgreSQL last analyzed them."""
    if engines.dialect != "postgresql":
        return []
    ours = set(tables.metadata.tables)
    with engines.read.connect() as conn:
        names = conn.execute(_STALE_SQL, {"floor": _MIN_CHANGES, "share": _SHARE}).scalars()
        return [name for name in names if name in ours]


def refresh_statistics(engines: Engines) -> list[str]:
    """``ANALYZE`` the stale tables (PostgreSQL); returns their names. Runs outside a
    transaction: ANALYZE samples a fixed number of rows, seconds even for a large table."""
    stale = stale_tables(engines)
    if not stale:
        return []
    with engines.write.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        for name in stale:
            autocommit.exec_driver_sql(f'ANALYZE "{name}"')
    return stale
