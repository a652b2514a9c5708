"""Claims and wills in the ledger: the writer's records of them, and their SQL.

A :class:`ClaimRow` is one ``claims`` row: a run of consecutive same-state claims of one boot
(:class:`jishi.collector.evidence.Claim`). :meth:`ClaimRow.absorb` extends a run by the next
message's claim when nothing can come between them: the message names the run's last ``seq`` as
its predecessor (schema 2), or, for schema 1 messages that name none, it is the next one to
arrive. Wills are rows of ``wills``; ``withdrawn`` only ever turns true.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jishi.collector import tables
from jishi.collector.evidence import Claim, Rank, Will
from jishi.collector.sqlhelp import assignments, fetch, many, quoted, select_in
from sqlalchemy import Connection, insert

CLAIM_COLUMNS = (
    "instrument_id",
    "boot_at",
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
_READ = ("id", *CLAIM_COLUMNS)
# Column names from this module; values are bound parameters.
_SELECT = f"SELECT {quoted(_READ)} FROM claims"  # noqa: S608
_UPDATE = f"UPDATE claims SET {assignments(CLAIM_COLUMNS)} WHERE id = ?"  # noqa: S608


@dataclass(slots=True)
class ClaimRow:
    """One ``claims`` row as the writer holds it (``id`` None: not stored yet)."""

    id: int | None
    instrument_id: str
    boot_at: float
    boot_id: str
    seq_lo: int
    seq_hi: int
    prev_seq: int | None
    linked: bool
    ts_lo: float
    ts_hi: float
    start: float
    end: float
    state: str
    closed: bool = False
    observations: int = 1
    historical: bool = False
    changed: bool = False

    @classmethod
    def new(cls, instrument_id: str, claim: Claim, historical: bool) -> ClaimRow:
        return cls(
            None,
            instrument_id,
            claim.boot_at,
            claim.boot_id,
            claim.seq_lo,
            claim.seq_hi,
            claim.prev_seq,
            claim.linked,
            claim.ts_lo,
            claim.ts_hi,
            claim.start,
            claim.end,
            claim.state,
            claim.closed,
            1,
            historical,
            True,
        )

    def claim(self) -> Claim:
        return Claim(
            self.boot_at,
            self.boot_id,
            self.seq_lo,
            self.seq_hi,
            self.prev_seq,
            self.linked,
            self.ts_lo,
            self.ts_hi,
            self.start,
            self.end,
            self.state,
            self.closed,
        )

    def continued_by(self, claim: Claim) -> bool:
        """Whether ``claim`` is the next message of this run (see the module docstring)."""
        if claim.boot_id != self.boot_id or claim.linked != self.linked:
            return False
        if claim.closed != self.closed:
            return False
        if claim.linked:
            return claim.prev_seq == self.seq_hi
        return claim.seq_lo > self.seq_hi

    def absorb(self, claim: Claim, historical: bool) -> bool:
        """Extend the run by the next message's claim if it has the run's state and its
        interval meets the run's; returns whether it did."""
        if claim.state != self.state or claim.start > self.end or claim.end < self.start:
            return False
        self.seq_hi = claim.seq_hi
        self.ts_lo, self.ts_hi = min(self.ts_lo, claim.ts_lo), max(self.ts_hi, claim.ts_hi)
        self.start, self.end = min(self.start, claim.start), max(self.end, claim.end)
        self.observations += 1
        self.historical = self.historical or historical
        self.changed = True
        return True

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in CLAIM_COLUMNS)


def _row(raw: Sequence[Any]) -> ClaimRow:
    """A row read in ``_READ`` order."""
    fields = dict(zip(_READ, raw, strict=True))
    for name in ("linked", "closed", "historical"):
        fields[name] = bool(fields[name])
    return ClaimRow(**fields)


def load_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, ClaimRow]:
    rows = select_in(conn, _SELECT + " WHERE id IN ({})", list(ids), lock=False)
    return {row[0]: _row(row) for row in rows}


def find_run(conn: Connection, instrument_id: str, boot_id: str, seq_hi: int) -> ClaimRow | None:
    """The run of ``boot_id`` whose last message is ``seq_hi``."""
    rows = fetch(
        conn,
        _SELECT + " WHERE instrument_id = ? AND boot_id = ? AND seq_hi = ?",
        (instrument_id, boot_id, seq_hi),
    )
    return _row(rows[0]) if rows else None


def overlapping(conn: Connection, instrument_id: str, lo: float, hi: float) -> list[Claim]:
    """Claims that cover some of ``[lo, hi)``."""
    rows = fetch(
        conn,
        _SELECT + ' WHERE instrument_id = ? AND "end" > ? AND start < ?',
        (instrument_id, lo, hi),
    )
    return [_row(r).claim() for r in rows]


def has_boot(conn: Connection, instrument_id: str, boot_id: str) -> bool:
    """Whether any evidence of ``boot_id`` about the instrument is stored."""
    found = fetch(
        conn,
        "SELECT 1 FROM claims WHERE instrument_id = ? AND boot_id = ? "
        "UNION ALL SELECT 1 FROM wills WHERE instrument_id = ? AND boot_id = ? LIMIT 1",
        (instrument_id, boot_id, instrument_id, boot_id),
    )
    return bool(found)


def boots_of(conn: Connection, instrument_id: str) -> list[tuple[float, str]]:
    """Every boot with evidence about the instrument, as ``(boot_at, boot_id)``."""
    rows = fetch(
        conn,
        "SELECT DISTINCT boot_at, boot_id FROM claims WHERE instrument_id = ? "
        "UNION SELECT DISTINCT boot_at, boot_id FROM wills WHERE instrument_id = ?",
        (instrument_id, instrument_id),
    )
    return sorted((float(at), str(boot)) for at, boot in rows)


def max_end_after(conn: Connection, instrument_id: str, lo: float) -> float | None:
    """The latest end of the instrument's claims that end after ``lo``."""
    rows = fetch(
        conn,
        'SELECT MAX("end") FROM claims WHERE instrument_id = ? AND "end" > ?',
        (instrument_id, lo),
    )
    return None if rows[0][0] is None else float(rows[0][0])


def write_claims(conn: Connection, rows: Sequence[ClaimRow]) -> None:
    """Insert new runs (one at a time, to learn their ids) and update changed ones."""
    fresh = [r for r in rows if r.id is None]
    for row in fresh:
        values = dict(zip(CLAIM_COLUMNS, row.values(), strict=True))
        row.id = conn.execute(
            insert(tables.claims).returning(tables.claims.c.id), values
        ).scalar_one()
    many(conn, _UPDATE, [(*r.values(), r.id) for r in rows if r.changed and r not in fresh])
    for row in rows:
        row.changed = False


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
    "AND p.boot_id = c.boot_id AND p.seq_hi = c.prev_seq "
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
    id: int | None
    instrument_id: str
    will: Will
    seq: int
    withdrawn: bool = False
    new: bool = False  # received in this batch


def standing_wills(conn: Connection, instrument_ids: Sequence[str]) -> dict[str, list[WillRow]]:
    """The wills not withdrawn, by instrument (few: one per lost connection)."""
    rows = select_in(
        conn,
        "SELECT id, instrument_id, boot_at, boot_id, seq, received_at FROM wills "
        "WHERE instrument_id IN ({}) AND NOT withdrawn",
        list(instrument_ids),
        lock=False,
    )
    out: dict[str, list[WillRow]] = defaultdict(list)
    for id_, inst, boot_at, boot_id, seq, received in rows:
        out[inst].append(WillRow(id_, inst, Will(boot_at, boot_id, received), seq))
    return out


def write_wills(conn: Connection, rows: Sequence[WillRow]) -> None:
    for row in rows:
        if row.id is None:
            values = {
                "instrument_id": row.instrument_id,
                "boot_at": row.will.boot_at,
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
    """The highest rank among the instrument's claims and standing wills, and the claims row
    holding it (None when a will is on top)."""
    best: tuple[Rank | None, int | None] = (None, None)
    found = top_claim(conn, instrument_id, standing)
    if found is not None:
        best = found
    for will in standing:
        times = sorted(w.received_at for w in standing if w.boot_id == will.boot_id)
        rank: Rank = (will.boot_at, will.boot_id, 2 * times.index(will.received_at) + 1, -1)
        if best[0] is None or rank > best[0]:
            best = (rank, None)
    return best


def top_claim(
    conn: Connection, instrument_id: str, standing: Sequence[Will], *, open_only: bool = False
) -> tuple[Rank, int] | None:
    """The highest-ranked claims row (``open_only``: of those that are not closed records)."""
    only = " AND NOT closed" if open_only else ""
    rows = fetch(
        conn,
        f"SELECT boot_at, boot_id FROM claims WHERE instrument_id = ?{only} "  # noqa: S608
        "ORDER BY boot_at DESC, boot_id DESC LIMIT 1",
        (instrument_id,),
    )
    if not rows:
        return None
    boot_at, boot_id = rows[0]
    times = sorted(w.received_at for w in standing if w.boot_id == boot_id)
    # The top phase first: the claims known after the k-th will, then before it, ...
    for k in range(len(times), -1, -1):
        floor = times[k - 1] if k > 0 else -1e300
        found = fetch(
            conn,
            "SELECT seq_hi, id FROM claims WHERE instrument_id = ? AND boot_id = ? "  # noqa: S608
            f"AND ts_lo >= ?{only} ORDER BY seq_hi DESC LIMIT 1",
            (instrument_id, boot_id, floor),
        )
        if found:
            return (boot_at, boot_id, 2 * k, found[0][0]), found[0][1]
    return None
