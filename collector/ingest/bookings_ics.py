"""Bookings from an iCalendar (RFC 5545) feed: every occurrence inside a window (pure).

One feed is one instrument's calendar (the booking system's per-instrument export). Recurrence
(RRULE, RDATE), exceptions (EXDATE, moved or cancelled occurrences by RECURRENCE-ID) and time
zones (VTIMEZONE, TZID) are expanded by ``recurring-ical-events`` on top of ``icalendar``:
RFC 5545's recurrence arithmetic is easy to get almost right by hand. What is decided here:

- a time without a zone ("floating", RFC 5545 3.3.5) is the site's local time;
- an all-day event (``DTSTART;VALUE=DATE``) books its days from local midnight to midnight;
- a cancelled event or occurrence (``STATUS:CANCELLED``) books nothing;
- the booker is the first ATTENDEE's address, else the ORGANIZER's (``mailto:`` dropped), the
  text the user directory matches by e-mail; SUMMARY is kept as the title;
- an occurrence's id is its UID and its start, so a moved occurrence replaces itself.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.usage.bookings import Booking


def parse_ics(raw: bytes, *, timezone: str, start: float, end: float) -> list[Booking]:
    """The bookings of the occurrences overlapping ``[start, end)``, sorted by start.
    A calendar that cannot be read raises :class:`SessionImportError`."""
    zone = ZoneInfo(timezone)
    out: list[Booking] = []
    try:
        calendar = icalendar.Calendar.from_ical(raw)
        lo, hi = datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone)
        for event in recurring_ical_events.of(calendar).between(lo, hi):
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            booking = _booking(event, zone)
            if booking is not None and booking.start < end and booking.end > start:
                out.append(booking)
    # What a broken file raises: icalendar's parse errors are ValueErrors, a missing property
    # a KeyError, a property of the wrong kind a TypeError or AttributeError.
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        recurring_ical_events.InvalidCalendar,
    ) as exc:
        raise SessionImportError([(None, f"not an iCalendar file: {exc}")]) from None
    return sorted(out, key=lambda b: (b.start, b.booking_id))


def _moment(value: date | datetime, zone: ZoneInfo) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()
    return datetime.combine(value, time(), zone).timestamp()


def _booking(event: Any, zone: ZoneInfo) -> Booking | None:
    first = event.decoded("DTSTART")
    all_day = not isinstance(first, datetime)
    start = _moment(first, zone)
    if "DTEND" in event:
        end = _moment(event.decoded("DTEND"), zone)
    elif "DURATION" in event:
        end = start + event.decoded("DURATION").total_seconds()
    else:  # RFC 5545 3.6.1: a date lasts one day, a date-time no time at all
        end = start + 86400 if all_day else start
    if end <= start:
        return None
    uid = str(event.get("UID", "")) or f"no-uid-{start:.0f}"
    return Booking(
        start=start,
        end=end,
        booking_id=f"{uid}@{start:.0f}"[:300],
        user=_booker(event),
        title=(str(event.get("SUMMARY", "")) or None),
        all_day=all_day,
    )


def _booker(event: Any) -> str | None:
    attendees = event.get("ATTENDEE")
    if isinstance(attendees, list):
        attendees = attendees[0] if attendees else None
    for value in (attendees, event.get("ORGANIZER")):
        if value:
            text = str(value)
            return (text[7:] if text.lower().startswith("mailto:") else text)[:200] or None
    return None
