"""Roll-ups follow the rules they were computed under.

A stored day holds figures computed with one instrument's rules: the site's merge gap and
prep/post windows, its time zone and the instrument's yearly quota (its own ``quota_h`` or its
category's). Corrected in ``collector.toml``, those rules must reach past days too, not only the
days computed after the change (a quota corrected from 1,000 h to 1,830 h left every closed day
at the old quota, so utilization mixed both). Each instrument's rules are kept as a fingerprint
beside its roll-ups; at start the collector compares them, and an instrument whose rules changed
loses its daily and monthly rows: queries compute those days live (right, only slower) until
the roll-up pass has stored them again under the new rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import astuple
from typing import Any

from sqlalchemy import delete, select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger import rollup_store as store
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.live import Policies
from jishi.collector.ledger.sql import upsert


def fingerprint(row: Mapping[str, Any], policies: Policies) -> str:
    """A short digest of the rules an instrument's figures are computed with."""
    rules = repr(astuple(policies(row))).encode()
    return hashlib.sha256(rules).hexdigest()[:16]


def retire_changed_rollups(
    engines: Engines, config: CollectorConfig, now: float, *, retire: bool = True
) -> list[str]:
    """Delete the roll-ups of instruments whose rules differ from those they were stored under
    (or were stored before fingerprints were kept); record the current fingerprints. Returns
    the instruments whose roll-ups were deleted. ``retire=False`` only records the rules, for
    roll-ups known to be computed under them (a bulk build with this config)."""
    policies = Policies(config)
    rules = tables.rollup_rules
    with engines.write.begin() as conn:
        rows = queries.instrument_rows(conn, columns=queries.USAGE_COLUMNS)
        current = {str(r["id"]): fingerprint(r, policies) for r in rows}
        stored = dict(conn.execute(select(rules.c.instrument_id, rules.c.fingerprint)).all())
        changed = sorted(i for i, f in current.items() if stored.get(i) != f)
        retired = _with_rollups(conn, changed) if retire else []
        _delete_rollups(conn, retired)
        if changed:
            stmt = upsert(conn, rules)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instrument_id"],
                    set_={"fingerprint": stmt.excluded.fingerprint, "since": now},
                ),
                [{"instrument_id": i, "fingerprint": current[i], "since": now} for i in changed],
            )
    return retired


def _with_rollups(conn: Any, ids: Sequence[str]) -> list[str]:
    """Those of ``ids`` that have daily roll-ups, read through the index on instruments and
    only for instruments whose rules changed (nothing at a start where none did)."""
    d = tables.daily_usage
    found: set[str] = set()
    for k in range(0, len(ids), store.CHUNK):
        has = select(d.c.instrument_id).where(d.c.instrument_id.in_(ids[k : k + store.CHUNK]))
        found.update(conn.execute(has.distinct()).scalars())
    return [i for i in ids if i in found]


def _delete_rollups(conn: Any, ids: Sequence[str]) -> None:
    for k in range(0, len(ids), store.CHUNK):
        chunk = ids[k : k + store.CHUNK]
        for table in (tables.daily_usage, tables.monthly_usage, tables.dirty_days):
            conn.execute(delete(table).where(table.c.instrument_id.in_(chunk)))
