"""The ``[[instruments]]`` registry of ``collector.toml`` applied to the ledger at start-up.

Rows are created when an instrument first reports (with the registry's values then). Without
this step, an edit of the registry afterwards (a corrected quota, a national-platform inner id,
a name) would never reach the ledger, and reports would go on using the old values. So every
start writes the registry's values into the rows that exist: registry values win over what a
birth message announced, as docs/collector.md says. Instruments dropped from the registry keep
their values but are marked unregistered, so their agents' birth messages may fill them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jishi.collector import tables
from jishi.collector.config import InstrumentEntry
from jishi.collector.db import Engines
from sqlalchemy import select, update


@dataclass(frozen=True)
class SyncResult:
    updated: int  # registered instruments whose rows were brought up to date
    unregistered: int  # rows no longer in the registry


def sync_registry(engines: Engines, registry: Mapping[str, InstrumentEntry]) -> SyncResult:
    """Write the registry's values into existing instrument rows (one transaction)."""
    t = tables.instruments
    with engines.write.begin() as conn:
        rows = conn.execute(select(t.c.id, t.c.registered)).all()
        updated = unregistered = 0
        for instrument_id, registered in rows:
            entry = registry.get(instrument_id)
            if entry is None:
                if registered:
                    conn.execute(update(t).where(t.c.id == instrument_id).values(registered=False))
                    unregistered += 1
                continue
            values: dict[str, object] = {
                "name": entry.name,
                "unit": entry.unit,
                "category": entry.category,
                "quota_h": entry.quota_h,
                "inner_id": entry.inner_id,
                "stale_after_s": entry.stale_after_s,
                "registered": True,
            }
            if entry.site:
                values["site"] = entry.site
            if not entry.name:
                values.pop("name")  # keep what the agent announced
            if not entry.unit:
                values.pop("unit")
            conn.execute(update(t).where(t.c.id == instrument_id).values(**values))
            updated += 1
    return SyncResult(updated, unregistered)
