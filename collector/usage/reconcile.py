"""Reconciliation: what was booked, who signed in, what the instrument did (pure, issue 13).

Booking systems reconcile bookings with sign-ins; none checks either against the instrument,
and users forget to sign out. For one instrument, given its bookings, its sessions and its
running intervals, every booking and every session gets the measured overlaps and verdicts:

- a booking is a **no-show** (未到场) when no session overlaps it and the instrument never ran
  in it; **running without sign-in** (运行未登记) when no session overlaps it but the
  instrument ran; **overrun** (超时) when its sessions go on past its end, outside any other
  booking, by more than ``grace_s``;
- a session is **use without booking** (无预约使用) when no booking overlaps it; **overrun**
  when it overlaps bookings but spends more than ``grace_s`` outside all of them; **signed in
  but never running** (登记未运行) when the instrument did not run at all inside it.

Anything else is ``ok``. Overlaps are measured, never guessed: a running interval is the
timeline's ``running`` state (unknown time is not running). Sort once, bisect: O((b + s) log r).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jishi.collector.usage.bookings import Booking
from jishi.collector.usage.engine import Session

GRACE_S = 900.0  # 15 min: a session a little past its booking is not an overrun
NO_SHOW = "no_show"
UNSIGNED_RUNNING = "running_without_session"
OVERRUN = "overrun"
NO_BOOKING = "no_booking"
NEVER_RUNNING = "never_running"
OK = "ok"
VERDICT_NAMES = {
    OK: "正常",
    NO_SHOW: "未到场",
    UNSIGNED_RUNNING: "运行未登记",
    OVERRUN: "超时使用",
    NO_BOOKING: "无预约使用",
    NEVER_RUNNING: "登记未运行",
}

Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class BookingCheck:
    """One booking against sessions and the instrument (seconds inside the booking)."""

    booking: Booking
    signed_in_s: float
    running_s: float
    overrun_s: float
    sessions: tuple[str, ...]
    verdicts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """One session against bookings and the instrument (seconds inside the session)."""

    session: Session
    booked_s: float
    running_s: float
    outside_booking_s: float
    bookings: tuple[str, ...]
    verdicts: tuple[str, ...]


def union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint cover of ``spans`` (touching spans merged)."""
    out: list[Span] = []
    for lo, hi in sorted(s for s in spans if s[1] > s[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def measure(lo: float, hi: float, cover: Sequence[Span], starts: Sequence[float]) -> float:
    """Seconds of ``[lo, hi)`` inside ``cover`` (sorted, disjoint; ``starts`` its starts)."""
    total = 0.0
    i = max(0, bisect_right(starts, lo) - 1)
    while i < len(cover) and cover[i][0] < hi:
        total += max(0.0, min(hi, cover[i][1]) - max(lo, cover[i][0]))
        i += 1
    return total


class _Cover:
    """A sorted disjoint cover with its starts, to measure overlaps by bisection."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = union(spans)
        self.starts = [s[0] for s in self.spans]

    def inside(self, lo: float, hi: float) -> float:
        return measure(lo, hi, self.spans, self.starts)


def reconcile(
    bookings: Sequence[Booking],
    sessions: Sequence[Session],
    running: Iterable[Span],
    *,
    grace_s: float = GRACE_S,
) -> tuple[list[BookingCheck], list[SessionCheck]]:
    """Every booking's and every session's check, in the order given."""
    run = _Cover(running)
    booked = _Cover((b.start, b.end) for b in bookings)
    return (
        [_check_booking(b, sessions, run, booked, grace_s) for b in bookings],
        [_check_session(s, bookings, run, booked, grace_s) for s in sessions],
    )


def _overlaps(lo: float, hi: float, start: float, end: float) -> bool:
    return start < hi and end > lo


def _check_booking(
    b: Booking, sessions: Sequence[Session], run: _Cover, booked: _Cover, grace_s: float
) -> BookingCheck:
    mine = [s for s in sessions if _overlaps(b.start, b.end, s.start, s.end)]
    signed = _Cover((s.start, s.end) for s in mine)
    running_s = run.inside(b.start, b.end)
    # Signed-in time after the booking's end that no other booking covers.
    overrun_s = sum(
        (hi - lo) - booked.inside(lo, hi)
        for lo, hi in ((max(b.end, s0), s1) for s0, s1 in signed.spans)
        if hi > lo
    )
    verdicts: list[str] = []
    if not mine:
        verdicts.append(UNSIGNED_RUNNING if running_s > 0 else NO_SHOW)
    if overrun_s > grace_s:
        verdicts.append(OVERRUN)
    return BookingCheck(
        booking=b,
        signed_in_s=signed.inside(b.start, b.end),
        running_s=running_s,
        overrun_s=overrun_s,
        sessions=tuple(s.session_id or "" for s in mine),
        verdicts=tuple(verdicts) or (OK,),
    )


def _check_session(
    s: Session, bookings: Sequence[Booking], run: _Cover, booked: _Cover, grace_s: float
) -> SessionCheck:
    mine = [b for b in bookings if _overlaps(s.start, s.end, b.start, b.end)]
    booked_s = booked.inside(s.start, s.end)
    outside = (s.end - s.start) - booked_s
    running_s = run.inside(s.start, s.end)
    verdicts: list[str] = []
    if not mine:
        verdicts.append(NO_BOOKING)
    elif outside > grace_s:
        verdicts.append(OVERRUN)
    if running_s <= 0:
        verdicts.append(NEVER_RUNNING)
    return SessionCheck(
        session=s,
        booked_s=booked_s,
        running_s=running_s,
        outside_booking_s=outside,
        bookings=tuple(b.booking_id for b in mine),
        verdicts=tuple(verdicts) or (OK,),
    )
