"""Dedupe on ``(boot_id, seq)``, each boot's place in the order, and which instrument it is.

Seen sequence numbers are kept per boot as merged ranges (:mod:`seqranges`: one short row per
boot), locked in the write transaction, so redeliveries, outbox replays and a message taken by
two collectors are stored once.

A boot's *key* orders it among the instrument's boots (a later boot is later knowledge): the
earliest receive time of its messages, the collector's own clock, since an agent's clock may be
wrong after a restart. Its *start* is where the previous boot ends: the ``boot_at`` the agent
announces (schema 2), else its key.

Schema 2 agents give each instrument its own boot id: the first instrument to use a boot id
owns it, and a message of another instrument with that id is refused (dead-lettered). Nobody can
then make an instrument's messages look like duplicates by sending its boot id and ``seq``
values on their own topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from jishi.collector.ledger import seqranges, tables
from jishi.collector.ledger.batch import DeadLetter, Incoming, Reason, refuse
from jishi.collector.ledger.sql import many, select_in, upsert


@dataclass(frozen=True, slots=True)
class BootInfo:
    """A boot's place in its instrument's order, where the previous boot ends, and its owner."""

    key: float  # orders the boots of an instrument
    start: float  # where the previous boot of the instrument ends
    instrument: str | None  # the owner of a schema 2 boot


def dedupe(
    conn: Connection, items: list[Incoming], now: float, topic_root: str
) -> tuple[list[Incoming], dict[str, BootInfo], list[DeadLetter]]:
    """The messages not stored before, every boot's :class:`BootInfo`, and the messages refused
    because their boot id belongs to another instrument."""
    if not items:
        return [], {}, []
    boot_ids = sorted({i.message.boot_id for i in items})

    def locked(ids: list[str]) -> dict[str, tuple[seqranges.Ranges, BootInfo]]:
        rows = select_in(
            conn,
            "SELECT boot_id, ranges, first_seen, boot_at, instrument_id FROM boots "
            "WHERE boot_id IN ({}) ORDER BY boot_id",
            ids,
        )
        return {
            boot: (seqranges.parse(text), BootInfo(first, at if at is not None else first, owner))
            for boot, text, first, at, owner in rows
        }

    known = locked(boot_ids)
    missing = [boot for boot in boot_ids if boot not in known]
    if missing:
        # Another collector may insert the same boot now: do nothing, then lock what is there.
        conn.execute(
            upsert(conn, tables.boots).on_conflict_do_nothing(),
            [
                {
                    "boot_id": k,
                    "ranges": "",
                    "first_seen": info.key,
                    "last_seen": now,
                    "boot_at": info.start if info.start != info.key else None,
                    "instrument_id": info.instrument,
                }
                for k, info in new_boots(items, set(missing)).items()
            ],
        )
        known.update(locked(missing))
    fresh: list[Incoming] = []
    refused: list[DeadLetter] = []
    for item in items:
        message = item.message
        ranges, info = known[message.boot_id]
        if message.schema_version >= 2 and info.instrument not in (None, message.instrument):
            refused.append(_refused(item, info.instrument, topic_root))
        elif seqranges.add(ranges, message.seq):
            fresh.append(item)
    grown = {i.message.boot_id for i in fresh}
    many(
        conn,
        "UPDATE boots SET ranges = ?, last_seen = ? WHERE boot_id = ?",
        [(seqranges.format_ranges(known[k][0]), now, k) for k in sorted(grown)],
    )
    return fresh, {k: v[1] for k, v in known.items()}, refused


def new_boots(items: Iterable[Incoming], wanted: set[str]) -> dict[str, BootInfo]:
    """:class:`BootInfo` of boots first named in this batch: key the earliest receive time,
    start the earliest announced ``boot_at``, owner the instrument of its first schema 2
    message (by receive time)."""
    keys: dict[str, float] = {}
    starts: dict[str, float] = {}
    owners: dict[str, tuple[float, str]] = {}
    for item in items:
        message = item.message
        boot = message.boot_id
        if boot not in wanted:
            continue
        received = item.received_at
        keys[boot] = min(received, keys.get(boot, received))
        if message.boot_at is not None:
            at = message.boot_at.timestamp()
            starts[boot] = min(at, starts.get(boot, at))
        if message.schema_version >= 2 and (boot not in owners or received < owners[boot][0]):
            owners[boot] = (received, message.instrument)
    return {
        boot: BootInfo(key, starts.get(boot, key), owners[boot][1] if boot in owners else None)
        for boot, key in keys.items()
    }


def _refused(item: Incoming, owner: str | None, topic_root: str) -> DeadLetter:
    message = item.message
    detail = (
        f"boot_id {message.boot_id!r} belongs to instrument {owner!r}, not {message.instrument!r}"
    )
    return refuse(item, Reason.BOOT_MISMATCH, detail, topic_root)
