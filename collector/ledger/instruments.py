"""The instrument rows a batch touches: locked in id order, created when new, written back.

An :class:`InstrumentRecord` is one ``instruments`` row as the writer holds it (a typed record,
one field per column). Heartbeats change only the hot columns (:data:`HOT`); a status message
or a new row sets ``full`` and the whole row is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from sqlalchemy import Boolean, Connection, func, select

from jishi.collector.config import InstrumentEntry
from jishi.collector.ledger import tables
from jishi.collector.ledger.batch import DeadLetter, Incoming, Reason, refuse
from jishi.collector.ledger.sql import assignments, many, quoted, select_in, upsert
from jishi.collector.usage.freshness import stale_after_s


@dataclass(slots=True)
class InstrumentRecord:
    """One ``instruments`` row (columns in table order; see ``tables.instruments``)."""

    id: str
    site: str
    name: str | None
    unit: str | None
    category: str
    quota_h: float | None
    inner_id: str | None
    stale_after_s: float | None
    heartbeat_interval_s: float | None
    announced_stale_after_s: float | None
    registered: bool
    boot_id: str | None
    online: bool | None
    online_changed_at: float | None
    state: str | None
    state_since: float | None
    last_ts: float | None
    last_seen: float | None
    created_at: float
    top_boot_key: float | None
    top_boot_id: str | None
    top_phase: int | None
    top_seq: int | None
    top_claim_lo: int | None
    clock_offset_s: float | None = None
    full: bool = False  # more than the hot columns changed: write the whole row

    def stale_after(self) -> float:
        return stale_after_s(
            override=self.stale_after_s,
            announced=self.announced_stale_after_s,
            heartbeat_interval_s=self.heartbeat_interval_s,
        )

    def as_dict(self) -> dict[str, Any]:
        """The row as a column mapping (what readers of ``instruments`` get)."""
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS = tuple(c.name for c in tables.instruments.columns)
_BOOLEANS = frozenset(c.name for c in tables.instruments.columns if isinstance(c.type, Boolean))
# What a heartbeat changes; everything else only a status message or a new row.
HOT = (
    "state",
    "state_since",
    "last_ts",
    "last_seen",
    "heartbeat_interval_s",
    "boot_id",
    "top_boot_key",
    "top_boot_id",
    "top_phase",
    "top_seq",
    "top_claim_lo",
    "clock_offset_s",
)
_FULL = tuple(c for c in COLUMNS if c not in ("id", "created_at"))
# Column names from tables.py; values are bound parameters.
_SELECT = f"SELECT {quoted(COLUMNS)} FROM instruments WHERE id IN ({{}}) ORDER BY id"  # noqa: S608


def _record(raw: Iterable[Any]) -> InstrumentRecord:
    values = dict(zip(COLUMNS, raw, strict=True))
    for name in _BOOLEANS:
        if values[name] is not None:
            values[name] = bool(values[name])  # SQLite returns 0/1
    return InstrumentRecord(**values)


@dataclass(frozen=True, slots=True)
class NewInstrumentLimit:
    """How many instruments an open registry creates from messages alone: ``per_hour`` new
    ones in any hour, ``total`` unregistered ones in all. Registered instruments never count.
    Two collectors on one ledger may each admit a batch's worth past the limit (the counts
    are not locked); the bound is against a flood, not an exact quota."""

    per_hour: int
    total: int


def _room(conn: Connection, limit: NewInstrumentLimit, now: float) -> int:
    """How many more unregistered instruments may be created now."""
    i = tables.instruments
    unregistered = i.c.registered.is_(False)
    total, recent = conn.execute(
        select(
            func.count(),
            func.count().filter(i.c.created_at > now - 3600.0),
        ).where(unregistered)
    ).one()
    return max(0, min(limit.per_hour - recent, limit.total - total))


def lock(
    conn: Connection,
    registry: Mapping[str, InstrumentEntry],
    first_site: Mapping[str, str],
    now: float,
    limit: NewInstrumentLimit | None = None,
) -> dict[str, InstrumentRecord]:
    """The rows of the instruments in ``first_site`` (id -> the site its first message
    names), locked in id order (two collectors cannot deadlock); missing ones are created from
    the registry, or from the message for an open registry within ``limit`` (ids beyond it
    are left out of the result: their messages are dead letters)."""
    ids = sorted(first_site)

    def locked(wanted: list[str]) -> dict[str, InstrumentRecord]:
        return {row[0]: _record(row) for row in select_in(conn, _SELECT, wanted)}

    found = locked(ids)
    missing = [i for i in ids if i not in found]
    if missing and limit is not None:
        strangers = [i for i in missing if i not in registry]
        if strangers:
            room = _room(conn, limit, now)
            refused = set(strangers[room:])
            missing = [i for i in missing if i not in refused]
    if not missing:
        return found
    new_rows = []
    for instrument_id in missing:
        entry = registry.get(instrument_id)
        new_rows.append(
            {
                "id": instrument_id,
                "site": entry.site if entry and entry.site else first_site[instrument_id],
                "name": entry.name if entry else None,
                "unit": entry.unit if entry else None,
                "category": entry.category if entry else "general",
                "quota_h": entry.quota_h if entry else None,
                "inner_id": entry.inner_id if entry else None,
                "stale_after_s": entry.stale_after_s if entry else None,
                "registered": entry is not None,
                "created_at": now,
            }
        )
    # Another collector may create the same rows now: do nothing, then lock what is there.
    conn.execute(upsert(conn, tables.instruments).on_conflict_do_nothing(), new_rows)
    found.update(locked(missing))
    for instrument_id in missing:
        found[instrument_id].full = True
    return found


def write(conn: Connection, records: Iterable[InstrumentRecord]) -> None:
    """Write back what changed: whole rows where ``full``, else the hot columns."""
    rows = list(records)
    for columns, chosen in (
        (_FULL, [r for r in rows if r.full]),
        (HOT, [r for r in rows if not r.full]),
    ):
        sql = f"UPDATE instruments SET {assignments(columns)} WHERE id = ?"  # noqa: S608
        values = attrgetter(*columns, "id")
        many(conn, sql, [values(r) for r in chosen])


def check_fields() -> None:
    """The record's fields are the table's columns, in order (tested)."""
    names = tuple(f.name for f in fields(InstrumentRecord) if f.name != "full")
    if names != COLUMNS:
        raise AssertionError(f"InstrumentRecord fields {names} != instruments columns {COLUMNS}")


def split_by_site(
    instruments: Mapping[str, InstrumentRecord], items: Sequence[Incoming], topic_root: str
) -> tuple[list[Incoming], list[DeadLetter]]:
    """The messages of each instrument's own site, and the others as dead letters.

    Instrument ids are unique per collector: an instrument belongs to the site of its registry
    entry, else to the site of the first message it was heard from. A message naming another
    site (an agent of site ``bio`` publishing for ``chem``'s ``nmr-600``, as the broker ACL
    lets it) changes nothing of that instrument."""
    own: list[Incoming] = []
    foreign: list[DeadLetter] = []
    claimed = {i: row.site for i, row in instruments.items() if row.site}
    for item in items:
        message = item.message
        site = claimed.setdefault(message.instrument, message.site)
        if message.site == site:
            own.append(item)
        else:
            detail = (
                f"instrument {message.instrument!r} belongs to site {site!r}, not "
                f"{message.site!r} (instrument ids are unique per collector)"
            )
            foreign.append(refuse(item, Reason.FOREIGN_SITE, detail, topic_root))
    return own, foreign
