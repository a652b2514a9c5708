"""The collector keeps PostgreSQL's planner statistics fresh itself (issue 18): with the
statistics of an emptier ledger PostgreSQL scanned all spans for one day of a fleet, and this
machine's PostgreSQL, like some sites', runs with autovacuum off."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, text

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.statistics import refresh_statistics, stale_tables
from jishi.collector.service import housekeeping

from support.ledger import make_config
from support.waiting import wait_until


def _spans(engines: Engines, count: int) -> None:
    rows = [
        {"instrument_id": f"i{k % 50}", "start": float(k), "end": float(k + 1), "state": "idle"}
        for k in range(count)
    ]
    with engines.write.begin() as conn:
        conn.execute(insert(tables.spans), rows)


def _analyzed_at(engines: Engines) -> object:
    with engines.read.connect() as conn:
        return conn.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'spans'")
        ).scalar()


def test_a_grown_table_is_analyzed_once(engines: Engines, tmp_path: Path) -> None:
    config = make_config(tmp_path, database={"url": str(engines.write.url)})
    if engines.dialect != "postgresql":
        # SQLite keeps no statistics unless asked; its plans were tuned without them.
        _spans(engines, 3000)
        assert stale_tables(engines) == [] and refresh_statistics(engines) == []
        return
    assert _analyzed_at(engines) is None
    _spans(engines, 300)  # below the floor: not worth an ANALYZE
    _spans(engines, 3000)
    # The server's activity counters are flushed by the writing backend within a second.
    wait_until(lambda: "spans" in stale_tables(engines), 10, "spans counted as changed")
    done = housekeeping(engines, config, 0.0)
    assert "spans" in done.analyzed
    assert _analyzed_at(engines) is not None
    assert "spans" not in stale_tables(engines)
    assert "spans" not in housekeeping(engines, config, 0.0).analyzed  # nothing changed since
