"""Reconciliation table: each verdict from bookings, sessions and running time (issue 13)."""

from __future__ import annotations

import pytest

from jishi.collector.usage.bookings import Booking
from jishi.collector.usage.engine import Session
from jishi.collector.usage.reconcile import (
    NEVER_RUNNING,
    NO_BOOKING,
    NO_SHOW,
    OK,
    OVERRUN,
    UNSIGNED_RUNNING,
    reconcile,
    union,
)

H = 3600.0


def _b(lo: float, hi: float, name: str = "b") -> Booking:
    return Booking(lo * H, hi * H, name)


def _s(lo: float, hi: float, name: str = "s") -> Session:
    return Session(lo * H, hi * H, session_id=name)


# (bookings, sessions, running, booking verdicts, session verdicts), times in hours
CASES = {
    "booked, signed in, running": ([_b(9, 11)], [_s(9, 11)], [(9, 10)], [(OK,)], [(OK,)]),
    "no-show": ([_b(9, 11)], [], [], [(NO_SHOW,)], []),
    "ran without sign-in": ([_b(9, 11)], [], [(9.5, 10)], [(UNSIGNED_RUNNING,)], []),
    "use without booking": ([], [_s(14, 15)], [(14, 15)], [], [(NO_BOOKING,)]),
    "signed in, never running": ([_b(9, 11)], [_s(9, 11)], [], [(OK,)], [(NEVER_RUNNING,)]),
    "forgot to sign out": (
        [_b(9, 11)],
        [_s(9, 18)],
        [(9, 10.5)],
        [(OVERRUN,)],
        [(OVERRUN,)],
    ),
    "ten minutes over is within grace": (
        [_b(9, 11)],
        [_s(9, 11 + 10 / 60)],
        [(9, 11)],
        [(OK,)],
        [(OK,)],
    ),
    "into the next booking is not an overrun": (
        [_b(9, 11, "b1"), _b(11, 13, "b2")],
        [_s(9, 13)],
        [(9, 13)],
        [(OK,), (OK,)],
        [(OK,)],
    ),
    "no booking and never running": ([], [_s(8, 9)], [], [], [(NO_BOOKING, NEVER_RUNNING)]),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_verdicts(case: tuple) -> None:  # type: ignore[type-arg]  # a table row of mixed parts
    bookings, sessions, running, want_b, want_s = case
    spans = [(lo * H, hi * H) for lo, hi in running]
    checked_b, checked_s = reconcile(bookings, sessions, spans)
    assert [c.verdicts for c in checked_b] == want_b
    assert [c.verdicts for c in checked_s] == want_s


def test_the_measured_seconds_of_an_overrun() -> None:
    (booking,), (session,) = reconcile(
        [_b(9, 11)], [_s(8.5, 18)], [(9 * H, 10.5 * H), (17 * H, 20 * H)]
    )
    assert booking.signed_in_s == 2 * H
    assert booking.running_s == 1.5 * H
    assert booking.overrun_s == 7 * H  # 11:00 to 18:00; the early half hour is not after it
    assert session.booked_s == 2 * H
    assert session.outside_booking_s == 7.5 * H
    assert session.running_s == 2.5 * H  # 9:00-10:30 and 17:00-18:00
    assert booking.sessions == ("s",) and session.bookings == ("b",)


def test_union_merges_touching_and_nested_spans() -> None:
    assert union([(5, 6), (1, 3), (3, 4), (1.5, 2)]) == [(1, 4), (5, 6)]
