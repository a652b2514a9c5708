"""Claims and wills in the ledger: the writer's records of them, and their SQL.

A :class:`ClaimRow` is one ``claims`` row: a run of consecutive same-state claims of one boot
(:class:`jishi.collector.evidence.Claim`). :meth:`ClaimRow.absorb` extends a run by the next
message's claim when nothing can come between them: the message names the run's last ``seq`` as
its predecessor (schema 2), or, for schema 1 messages that name none, it is the next one to
arrive. Wills are rows of ``wills``; ``withdrawn`` only ever turns true.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, insert

from jishi.collector.ledger import tables
from jishi.collector.ledger.sql import assignments, fetch, many, quoted
from jishi.collector.usage.evidence import Boot, Claim, Rank, Will

CLAIM_COLUMNS = (
    "instrument_id",
    "boot_key",
    "boot_id",
    "seq_lo",
    "seq_hi",
    "prev_seq",
    "linked",
    "ts_lo",
    "ts_hi",
    "start",
    "end",
    "state",
    "closed",
    "observations",
    "historical",
)
_READ = CLAIM_COLUMNS
_KEY = ("instrument_id", "boot_id", "seq_lo")
# Column names from this module; values are bound parameters.
_SELECT = f"SELECT {quoted(_READ)} FROM claims"  # noqa: S608
_INSERT = (
    f"INSERT INTO claims ({quoted(CLAIM_COLUMNS)}) VALUES ({', '.join('?' * len(CLAIM_COLUMNS))})"  # noqa: S608
)
# A stored run only ever grows: absorbing messages changes these columns, never its key.
_GROWN = ("seq_hi", "ts_lo", "ts_hi", "start", "end", "observations", "historical")
_GROW = (
    f"UPDATE claims SET {assignments(_GROWN)} "  # noqa: S608
    "WHERE instrument_id = ? AND boot_id = ? AND seq_lo = ?"
)
_IN_KEYS = 3000  # runs per lookup by key (three bound parameters each)


@dataclass(slots=True)
class ClaimRow:
    """One ``claims`` row as the writer holds it: a run of one boot's claims about an
    instrument, itself a :class:`Claim` covering them all. A run is known by its first
    message (instrument, boot, ``seq_lo``), which absorbing later messages never changes;
    ``stored`` says whether the row exists yet."""

    instrument_id: str
    claim: Claim
    observations: int = 1
    historical: bool = False
    changed: bool = False
    stored: bool = True

    @classmethod
    def new(cls, instrument_id: str, claim: Claim, historical: bool) -> ClaimRow:
        return cls(instrument_id, claim, 1, historical, changed=True, stored=False)

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> ClaimRow:
        """A row from :meth:`values` or a ``SELECT`` in ``CLAIM_COLUMNS`` order."""
        instrument_id, *fields, observations, historical = values
        fields[_LINKED] = bool(fields[_LINKED])
        fields[_CLOSED] = bool(fields[_CLOSED])
        return cls(instrument_id, Claim._make(fields), observations, bool(historical))

    def continued_by(self, claim: Claim) -> bool:
        """Whether ``claim`` is the next message of this run (see the module docstring)."""
        run = self.claim
        if claim.boot_id != run.boot_id or claim.linked != run.linked:
            return False
        if claim.closed != run.closed:
            return False
        if claim.linked:
            return claim.prev_seq == run.seq_hi
        return claim.seq_lo > run.seq_hi

    def absorb(self, claim: Claim, historical: bool) -> bool:
        """Extend the run by the next message's claim if it has the run's state and its
        interval meets the run's; returns whether it did."""
        run = self.claim
        if claim.state != run.state or claim.start > run.end or claim.end < run.start:
            return False
        self.claim = run._replace(
            seq_hi=claim.seq_hi,
            ts_lo=min(run.ts_lo, claim.ts_lo),
            ts_hi=max(run.ts_hi, claim.ts_hi),
            start=min(run.start, claim.start),
            end=max(run.end, claim.end),
        )
        self.observations += 1
        self.historical = self.historical or historical
        self.changed = True
        return True

    def values(self) -> tuple[Any, ...]:
        """In ``CLAIM_COLUMNS`` order."""
        return (self.instrument_id, *self.claim, self.observations, self.historical)

    def growth(self) -> tuple[Any, ...]:
        """``_GROW`` parameters: what absorbing messages changes, then the key."""
        c = self.claim
        return (
            *_GROWN_OF_CLAIM(c),
            self.observations,
            self.historical,
            self.instrument_id,
            c.boot_id,
            c.seq_lo,
        )


_LINKED = Claim._fields.index("linked")
_CLOSED = Claim._fields.index("closed")
_GROWN_OF_CLAIM = attrgetter(*_GROWN[:-2])  # the claim's part of _GROWN


def load_runs(
    conn: Connection, keys: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str, int], ClaimRow]:
    """Runs by their key ``(instrument_id, boot_id, seq_lo)``."""
    found: dict[tuple[str, str, int], ClaimRow] = {}
    for k in range(0, len(keys), _IN_KEYS):
        chunk = keys[k : k + _IN_KEYS]
        values = ", ".join(["(?, ?, ?)"] * len(chunk))
        sql = f"{_SELECT} WHERE (instrument_id, boot_id, seq_lo) IN (VALUES {values})"
        for raw in fetch(conn, sql, [v for key in chunk for v in key]):
            row = ClaimRow.from_values(raw)
            found[(row.instrument_id, row.claim.boot_id, row.claim.seq_lo)] = row
    return found


def find_run(conn: Connection, instrument_id: str, boot_id: str, seq_hi: int) -> ClaimRow | None:
    """The run of ``boot_id`` whose last message is ``seq_hi``."""
    rows = fetch(
        conn,
        _SELECT + " WHERE instrument_id = ? AND boot_id = ? AND seq_lo <= ? "
        "ORDER BY seq_lo DESC LIMIT 1",
        (instrument_id, boot_id, seq_hi),
    )
    run = ClaimRow.from_values(rows[0]) if rows else None
    return run if run is not None and run.claim.seq_hi == seq_hi else None


def overlapping(conn: Connection, instrument_id: str, lo: float, hi: float) -> list[Claim]:
    """Claims that cover some of ``[lo, hi)``."""
    rows = fetch(
        conn,
        _SELECT + ' WHERE instrument_id = ? AND "end" > ? AND start < ?',
        (instrument_id, lo, hi),
    )
    return [ClaimRow.from_values(r).claim for r in rows]


def boots_of(conn: Connection, instrument_id: str) -> list[Boot]:
    """Every boot with evidence about the instrument: its key, start (the agent's ``boot_at``
    from ``boots``, else its key) and latest knowledge."""
    found: dict[str, Boot] = {}
    rows = fetch(
        conn,
        "SELECT c.boot_key, c.boot_id, b.boot_at, MAX(c.ts_hi) FROM claims c "
        "LEFT JOIN boots b ON b.boot_id = c.boot_id WHERE c.instrument_id = ? "
        "GROUP BY c.boot_key, c.boot_id, b.boot_at",
        (instrument_id,),
    )
    for key, boot_id, at, last in rows:
        found[boot_id] = Boot(key, boot_id, key if at is None else at, last)
    rows = fetch(
        conn,
        "SELECT DISTINCT w.boot_key, w.boot_id, b.boot_at FROM wills w "
        "LEFT JOIN boots b ON b.boot_id = w.boot_id WHERE w.instrument_id = ?",
        (instrument_id,),
    )
    for key, boot_id, at in rows:
        found.setdefault(boot_id, Boot(key, boot_id, key if at is None else at, -math.inf))
    return sorted(found.values())


def max_end_of(conn: Connection, instrument_id: str, boot_id: str) -> float | None:
    """The latest end of one boot's claims about the instrument."""
    return _max_end(conn, "boot_id = ?", (instrument_id, boot_id))


def max_end_after(conn: Connection, instrument_id: str, lo: float) -> float | None:
    """The latest end of the instrument's claims that end after ``lo``."""
    return _max_end(conn, '"end" > ?', (instrument_id, lo))


def _max_end(conn: Connection, condition: str, params: tuple[str, str | float]) -> float | None:
    sql = f'SELECT MAX("end") FROM claims WHERE instrument_id = ? AND {condition}'  # noqa: S608 - fixed conditions
    rows = fetch(conn, sql, params)
    return None if rows[0][0] is None else float(rows[0][0])


def write_claims(conn: Connection, rows: Sequence[ClaimRow]) -> None:
    """Insert new runs and update changed ones (two ``executemany``)."""
    many(conn, _INSERT, [r.values() for r in rows if not r.stored])
    many(conn, _GROW, [r.growth() for r in rows if r.stored and r.changed])
    for row in rows:
        row.stored, row.changed = True, False


def evidence_boots(conn: Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which ``(instrument_id, boot_id)`` pairs have evidence stored (claims or wills)."""
    found: set[tuple[str, str]] = set()
    for k in range(0, len(pairs), _IN_KEYS):
        chunk = pairs[k : k + _IN_KEYS]
        values = ", ".join(["(?, ?)"] * len(chunk))
        params = [v for pair in chunk for v in pair]
        for table in ("claims", "wills"):
            sql = (
                f"SELECT DISTINCT instrument_id, boot_id FROM {table} "  # noqa: S608
                f"WHERE (instrument_id, boot_id) IN (VALUES {values})"
            )
            found.update((str(i), str(b)) for i, b in fetch(conn, sql, params))
    return found


def window_bounds(
    conn: Connection, instrument_id: str, boot_id: str, received_at: float
) -> tuple[float, float, bool]:
    """The stretch a will at ``received_at`` (standing or withdrawn) can change: from the will,
    or the earliest claim its boot made known after it, to the end of every claim after that;
    and whether its boot made any claim known after it."""
    rows = fetch(
        conn,
        "SELECT MIN(start) FROM claims WHERE instrument_id = ? AND boot_id = ? AND ts_lo >= ?",
        (instrument_id, boot_id, received_at),
    )
    later = rows[0][0] is not None
    lo = min(received_at, rows[0][0]) if later else received_at
    hi = max_end_after(conn, instrument_id, lo)
    return lo, (lo if hi is None else hi), later


# A linked claim of the boot with members on both sides of R, or two consecutive ones (one
# names the other's last seq as its predecessor) on opposite sides: evidence.will_withdrawn.
_CROSSING = (
    "SELECT 1 FROM claims c WHERE c.instrument_id = ? AND c.boot_id = ? AND c.linked "
    "AND c.ts_lo < ? AND c.ts_hi >= ? "
    "UNION ALL "
    "SELECT 1 FROM claims c JOIN claims p ON p.instrument_id = c.instrument_id "
    "AND p.boot_id = c.boot_id AND p.seq_lo <= c.prev_seq AND p.seq_hi = c.prev_seq "
    "WHERE c.instrument_id = ? AND c.boot_id = ? AND c.linked AND p.linked "
    "AND ((p.ts_hi < ? AND c.ts_lo >= ?) OR (c.ts_hi < ? AND p.ts_lo >= ?)) LIMIT 1"
)


def crossing(conn: Connection, instrument_id: str, boot_id: str, received_at: float) -> bool:
    """Whether the boot's chain of messages crosses ``received_at`` (the will is withdrawn)."""
    r = received_at
    params = (instrument_id, boot_id, r, r, instrument_id, boot_id, r, r, r, r)
    return bool(fetch(conn, _CROSSING, params))


@dataclass(slots=True)
class WillRow:
    """One ``wills`` row as the writer holds it (``new``: received in this batch)."""

    id: int | None
    instrument_id: str
    will: Will
    seq: int
    withdrawn: bool = False
    new: bool = False  # received in this batch


_WILL_COLUMNS = "id, instrument_id, boot_key, boot_id, seq, received_at"


def _wills(rows: Sequence[Sequence[Any]]) -> list[WillRow]:
    return [
        WillRow(id_, inst, Will(boot_key, boot_id, received), seq)
        for id_, inst, boot_key, boot_id, seq, received in rows
    ]


def standing_wills_of_boots(
    conn: Connection, pairs: Sequence[tuple[str, str]]
) -> dict[str, list[WillRow]]:
    """The wills not withdrawn of these ``(instrument_id, boot_id)`` pairs, by instrument."""
    out: dict[str, list[WillRow]] = defaultdict(list)
    for k in range(0, len(pairs), _IN_KEYS):
        chunk = pairs[k : k + _IN_KEYS]
        values = ", ".join(["(?, ?)"] * len(chunk))
        sql = (
            f"SELECT {_WILL_COLUMNS} FROM wills WHERE NOT withdrawn "  # noqa: S608
            f"AND (instrument_id, boot_id) IN (VALUES {values})"
        )
        for will in _wills(fetch(conn, sql, [v for pair in chunk for v in pair])):
            out[will.instrument_id].append(will)
    return out


def standing_wills_before(conn: Connection, instrument_id: str, hi: float) -> list[Will]:
    """Every will of the instrument not withdrawn, received before ``hi`` (each reaches on)."""
    rows = fetch(
        conn,
        f"SELECT {_WILL_COLUMNS} FROM wills WHERE instrument_id = ? "  # noqa: S608
        "AND NOT withdrawn AND received_at < ?",
        (instrument_id, hi),
    )
    return [w.will for w in _wills(rows)]


def write_wills(conn: Connection, rows: Sequence[WillRow]) -> None:
    for row in rows:
        if row.id is None:
            values = {
                "instrument_id": row.instrument_id,
                "boot_key": row.will.boot_key,
                "boot_id": row.will.boot_id,
                "seq": row.seq,
                "received_at": row.will.received_at,
                "withdrawn": row.withdrawn,
            }
            row.id = conn.execute(
                insert(tables.wills).returning(tables.wills.c.id), values
            ).scalar_one()
    withdrawn = [(r.id,) for r in rows if r.withdrawn and r.id is not None]
    many(conn, "UPDATE wills SET withdrawn = true WHERE id = ?", withdrawn)


def top_rank(
    conn: Connection, instrument_id: str, standing: Sequence[Will]
) -> tuple[Rank | None, int | None]:
    """The highest rank among the instrument's claims and standing wills, and the ``seq_lo``
    of the claims row holding it (None when a will is on top)."""
    best: tuple[Rank | None, int | None] = (None, None)
    found = top_claim(conn, instrument_id, standing)
    if found is not None:
        best = found
    # Each boot's latest will ranks highest among its wills: phase 2 n - 1 for n wills.
    counts: dict[tuple[float, str], int] = defaultdict(int)
    for will in standing:
        counts[(will.boot_key, will.boot_id)] += 1
    for (key, boot_id), n in counts.items():
        rank: Rank = (key, boot_id, 2 * n - 1, -1)
        if best[0] is None or rank > best[0]:
            best = (rank, None)
    return best


def top_claim(
    conn: Connection, instrument_id: str, standing: Sequence[Will], *, open_only: bool = False
) -> tuple[Rank, int] | None:
    """The rank of the highest-ranked claims row and its ``seq_lo`` (``open_only``: of those
    that are not closed records). Within the newest boot the top phase is that of the claim
    known last (wills cut by knowledge time); within it, the highest ``seq``."""
    only = " AND NOT closed" if open_only else ""
    rows = fetch(
        conn,
        f"SELECT boot_key, boot_id FROM claims WHERE instrument_id = ?{only} "  # noqa: S608
        "ORDER BY boot_key DESC, boot_id DESC LIMIT 1",
        (instrument_id,),
    )
    if not rows:
        return None
    boot_key, boot_id = rows[0]
    times = sorted(w.received_at for w in standing if w.boot_id == boot_id)
    latest = fetch(
        conn,
        f"SELECT MAX(ts_lo) FROM claims WHERE instrument_id = ? AND boot_id = ?{only}",  # noqa: S608
        (instrument_id, boot_id),
    )[0][0]
    k = bisect.bisect_right(times, latest)
    floor = times[k - 1] if k > 0 else -1e300
    found = fetch(
        conn,
        "SELECT seq_hi, seq_lo FROM claims WHERE instrument_id = ? AND boot_id = ? "  # noqa: S608
        f"AND ts_lo >= ?{only} ORDER BY seq_hi DESC LIMIT 1",
        (instrument_id, boot_id, floor),
    )
    return (boot_key, boot_id, 2 * k, found[0][0]), found[0][1]
