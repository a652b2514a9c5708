"""Bookings as plain data (issue 13): who meant to use an instrument, and when (pure).

A booking comes from a calendar feed (one occurrence of a possibly recurring event) or a
booking-system CSV row; reconciliation compares it with sessions and the running timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Booking:
    """A booking of one instrument over ``[start, end)`` (epoch seconds)."""

    start: float
    end: float
    booking_id: str
    user: str | None = None
    title: str | None = None
    all_day: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end <= self.start:
            raise ValueError(f"a booking needs start < end: [{self.start}, {self.end})")


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A booking on its way to the ledger: its instrument, and its CSV line if any."""

    instrument: str
    booking: Booking
    line: int | None = None
