"""The user directory in the ledger: store entries, read them for the sessions being counted,
list the session users it does not know (issue 13).

Storing an entry marks for a new roll-up the closed days of every session whose user it
matches, before and after the change: the daily roll-ups hold service figures, and a corrected
directory must correct them (the roll-up code itself is not touched).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, or_, select

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.sessions import mark_dirty_days
from jishi.collector.ledger.sql import upsert
from jishi.collector.usage.users import Directory, DirectoryEntry, lookup_key, unmatched_users

_CHUNK = 2000
_FIELDS = ("card", "email", "person", "org", "unit", "user_type")


def _entry(row: Any) -> DirectoryEntry:
    return DirectoryEntry(
        account=row["account"],
        user_type=row["user_type"],
        card=row["card"],
        email=row["email"],
        person=row["person"],
        org=row["org"],
        unit=row["unit"],
    )


def directory_for(conn: Connection, users: Iterable[str | None]) -> Directory:
    """The entries that the given session users name (one query, however many users)."""
    keys = sorted({lookup_key(u) for u in users if u})
    d = tables.directory_users
    entries: dict[str, DirectoryEntry] = {}
    # In chunks: a fleet's year can name more users than a statement may bind parameters
    # (SQLite 32,766, PostgreSQL 65,535), and each key is bound three times.
    for part in _chunks(keys):
        rows = conn.execute(
            select(d).where(or_(d.c.account.in_(part), d.c.card.in_(part), d.c.email.in_(part)))
        ).mappings()
        entries.update((r["account"], _entry(r)) for r in rows)
    return Directory(entries.values())


def list_entries(conn: Connection) -> list[DirectoryEntry]:
    d = tables.directory_users
    return [_entry(r) for r in conn.execute(select(d).order_by(d.c.account)).mappings()]


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    """``keys`` in pieces a statement can bind, even three times over."""
    for k in range(0, len(keys), _CHUNK):
        yield keys[k : k + _CHUNK]


def _keys_of(conn: Connection, accounts: Sequence[str]) -> set[str]:
    d = tables.directory_users
    out: set[str] = set()
    for part in _chunks(accounts):
        rows = conn.execute(select(d).where(d.c.account.in_(part))).mappings()
        out.update(key for r in rows for key in _entry(r).lookup_keys())
    return out


def _touch_sessions(conn: Connection, keys: set[str], now: float, zone: ZoneInfo) -> None:
    """Mark the days of the sessions whose user is one of ``keys`` for a new roll-up."""
    if not keys:
        return
    s = tables.sessions
    found: list[tuple[str, float, float]] = []
    for part in _chunks(sorted(keys)):
        rows = conn.execute(
            select(s.c.instrument_id, s.c.start_ts, s.c.end_ts).where(
                s.c.start_ts.is_not(None),
                or_(s.c.user.in_(part), func.lower(s.c.user).in_(part)),
            )
        ).all()
        found += [(i, start, end if end is not None else now) for i, start, end in rows]
    mark_dirty_days(conn, found, now, zone)


def store_entries(
    engines: Engines, entries: Sequence[DirectoryEntry], now: float, timezone: str
) -> int:
    """Insert or update ``entries`` by account in one transaction; returns how many."""
    if not entries:
        return 0
    accounts = [e.account for e in entries]
    with engines.write.begin() as conn:
        keys = _keys_of(conn, accounts)
        stmt = upsert(conn, tables.directory_users)
        changed = {name: stmt.excluded[name] for name in (*_FIELDS, "updated_at")}
        # One statement for all rows (executemany): a campus directory is tens of thousands.
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["account"], set_=changed),
            [
                {"account": e.account, "updated_at": now, **{n: getattr(e, n) for n in _FIELDS}}
                for e in entries
            ],
        )
        keys.update(key for e in entries for key in e.lookup_keys())
        _touch_sessions(conn, keys, now, ZoneInfo(timezone))
    return len(entries)


def delete_entry(engines: Engines, account: str, now: float, timezone: str) -> bool:
    """Remove one account; False when there was none."""
    d = tables.directory_users
    with engines.write.begin() as conn:
        keys = _keys_of(conn, [account])
        if not keys:
            return False
        conn.execute(delete(d).where(d.c.account == account))
        _touch_sessions(conn, keys, now, ZoneInfo(timezone))
    return True


def unmatched_accounts(
    conn: Connection, start: float | None = None, end: float | None = None
) -> list[dict[str, Any]]:
    """Session users the directory does not know, with how many sessions and on which
    instruments (sessions overlapping ``[start, end)`` when given)."""
    s = tables.sessions
    query = select(s.c.user, s.c.instrument_id, func.count()).where(s.c.user.is_not(None))
    if end is not None:
        query = query.where(s.c.start_ts < end)
    if start is not None:
        query = query.where(or_(s.c.end_ts.is_(None), s.c.end_ts > start))
    rows = conn.execute(query.group_by(s.c.user, s.c.instrument_id)).all()
    directory = directory_for(conn, (r[0] for r in rows))
    missing = set(unmatched_users((r[0] for r in rows), directory))
    out: dict[str, dict[str, Any]] = {}
    for user, instrument, count in rows:
        if user in missing:
            item = out.setdefault(user, {"user": user, "sessions": 0, "instruments": []})
            item["sessions"] += int(count)
            item["instruments"] = sorted({*item["instruments"], instrument})
    return [out[u] for u in sorted(out)]
