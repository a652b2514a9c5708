"""Adjustments laid over a measured timeline (pure): the adjusted timeline the reports use.

An adjustment says "over ``[start, end)`` the instrument was in ``state``" (declared
maintenance, or running where a mis-set threshold reported idle). Active adjustments are laid
over the timeline in creation order, so a later one wins where two overlap; revoked ones are
ignored. The measured timeline itself is never changed: reports compute raw figures from it
and adjusted figures from the overlay, and show both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jishi.collector.usage.timeline import STATES, Interval


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One admin correction with its audit fields (see ``tables.adjustments``)."""

    id: int
    instrument: str
    start: float
    end: float
    state: str
    reason: str
    created_by: str
    created_at: float
    revoked_at: float | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r} (expected one of {', '.join(STATES)})")
        if not self.end > self.start:
            raise ValueError("an adjustment must end after it starts")


def overlay(intervals: Sequence[Interval], adjustments: Iterable[Adjustment]) -> list[Interval]:
    """``intervals`` (contiguous, sorted) with the active ``adjustments`` laid over them.

    The result covers exactly the same range as ``intervals``; adjacent equal states merge.
    """
    pieces = [(iv.start, iv.end, iv.state) for iv in intervals if iv.end > iv.start]
    for adj in sorted((a for a in adjustments if a.active), key=lambda a: (a.created_at, a.id)):
        out: list[tuple[float, float, str]] = []
        placed = False
        for a, b, state in pieces:
            if b <= adj.start or a >= adj.end:
                if a >= adj.end and not placed:
                    placed = _place(out, adj, pieces)
                out.append((a, b, state))
                continue
            if a < adj.start:
                out.append((a, adj.start, state))
            if not placed:
                placed = _place(out, adj, pieces)
            if b > adj.end:
                out.append((adj.end, b, state))
        if not placed:
            _place(out, adj, pieces)
        pieces = out
    return _merge(pieces)


def _place(
    out: list[tuple[float, float, str]],
    adj: Adjustment,
    pieces: Sequence[tuple[float, float, str]],
) -> bool:
    """Append the adjustment clipped to the range ``pieces`` cover (never beyond it)."""
    if not pieces:
        return True
    lo, hi = max(adj.start, pieces[0][0]), min(adj.end, pieces[-1][1])
    if hi > lo:
        out.append((lo, hi, adj.state))
    return True


def _merge(pieces: Sequence[tuple[float, float, str]]) -> list[Interval]:
    merged: list[tuple[float, float, str]] = []
    for a, b, state in pieces:
        if b <= a:
            continue
        if merged and merged[-1][2] == state and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b, state)
        else:
            merged.append((a, b, state))
    return [Interval(a, b, s) for a, b, s in merged]


def touching(adjustments: Iterable[Adjustment], start: float, end: float) -> list[Adjustment]:
    """Adjustments (active or not) overlapping ``[start, end)``, in creation order."""
    return sorted(
        (a for a in adjustments if a.start < end and a.end > start),
        key=lambda a: (a.created_at, a.id),
    )
