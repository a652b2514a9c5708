"""Dedupe on ``(boot_id, seq)``, and when each boot began.

Seen sequence numbers are kept per boot as merged ranges (:mod:`seqranges`: one short row per
agent start), locked in the write transaction, so redeliveries, outbox replays and a message
taken by two collectors are stored once. A boot's ``boot_at`` orders it among the instrument's
boots (a later boot is later knowledge): announced by schema 2 messages, else the earliest time
in the batch that first named the boot.
"""

from __future__ import annotations

from collections.abc import Iterable

from jishi.agent.wire import HeartbeatMessage, StateMessage
from jishi.collector.ledger import seqranges, tables
from jishi.collector.ledger.batch import Incoming
from jishi.collector.ledger.sql import many, select_in, upsert
from sqlalchemy import Connection


def dedupe(
    conn: Connection, items: list[Incoming], now: float
) -> tuple[list[Incoming], dict[str, float]]:
    """The messages not stored before, and every boot's ``boot_at``."""
    if not items:
        return [], {}
    boot_ids = sorted({i.message.boot_id for i in items})

    def locked(ids: list[str]) -> dict[str, tuple[seqranges.Ranges, float]]:
        rows = select_in(
            conn,
            "SELECT boot_id, ranges, boot_at, first_seen FROM boots WHERE boot_id IN ({}) "
            "ORDER BY boot_id",
            ids,
        )
        return {b: (seqranges.parse(text), at or first) for b, text, at, first in rows}

    known = locked(boot_ids)
    missing = [boot for boot in boot_ids if boot not in known]
    if missing:
        started = boot_starts(items, set(missing))
        # Another collector may insert the same boot now: do nothing, then lock what is there.
        conn.execute(
            upsert(conn, tables.boots).on_conflict_do_nothing(),
            [
                {
                    "boot_id": k,
                    "ranges": "",
                    "first_seen": now,
                    "last_seen": now,
                    "boot_at": started[k],
                }
                for k in missing
            ],
        )
        known.update(locked(missing))
    fresh = [i for i in items if seqranges.add(known[i.message.boot_id][0], i.message.seq)]
    grown = {i.message.boot_id for i in fresh}
    many(
        conn,
        "UPDATE boots SET ranges = ?, last_seen = ? WHERE boot_id = ?",
        [(seqranges.format_ranges(known[k][0]), now, k) for k in sorted(grown)],
    )
    return fresh, {k: v[1] for k, v in known.items()}


def boot_starts(items: Iterable[Incoming], wanted: set[str]) -> dict[str, float]:
    """``boot_at`` of new boots: announced (schema 2), else their earliest message time."""
    starts: dict[str, float] = {}
    for item in items:
        message = item.message
        if message.boot_id not in wanted:
            continue
        if message.boot_at is not None:
            starts[message.boot_id] = message.boot_at.timestamp()
            continue
        ts = message.ts.timestamp()
        if isinstance(message, StateMessage | HeartbeatMessage):
            ts = min(ts, message.since.timestamp())
        if message.boot_id not in starts or ts < starts[message.boot_id]:
            starts[message.boot_id] = ts
    return starts
