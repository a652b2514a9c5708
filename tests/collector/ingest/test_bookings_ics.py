"""Bookings from an iCalendar feed written here: RRULE with EXDATE and a moved occurrence,
two time zones, an all-day event, floating time, a cancelled event (issue 13)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jishi.collector.ingest.bookings_ics import parse_ics
from jishi.collector.ledger.session_input import SessionImportError

TZ = "Asia/Shanghai"
CST = ZoneInfo(TZ)
FEED = (Path(__file__).parent / "ics" / "nmr600.ics").read_bytes()


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CST).timestamp()


def _local(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).strftime("%m-%d %H:%M")


def test_every_occurrence_of_march_as_the_site_reads_it() -> None:
    bookings = parse_ics(FEED, timezone=TZ, start=_t("2025-03-01"), end=_t("2025-04-01"))
    shown = [(_local(b.start), _local(b.end), b.user, b.all_day) for b in bookings]
    assert shown == [
        ("03-03 09:00", "03-03 11:00", "ZhangSan@example.edu.cn", False),
        # 20:00 in New York (EST, -05:00) is 09:00 the next day in Shanghai
        ("03-05 00:00", "03-06 00:00", None, True),  # all day, local midnight to midnight
        ("03-05 09:00", "03-05 12:00", "smith@partner.org", False),
        ("03-06 08:00", "03-06 08:30", "lisi", False),  # floating time is site time
        # 03-10 is an EXDATE; 03-17 moved to the afternoon; cancelled 03-07 is absent
        ("03-17 14:00", "03-17 16:00", "ZhangSan@example.edu.cn", False),
        ("03-24 09:00", "03-24 11:00", "ZhangSan@example.edu.cn", False),
    ]
    ids = [b.booking_id for b in bookings]
    assert len(set(ids)) == len(ids)


def test_a_window_keeps_only_the_occurrences_it_overlaps() -> None:
    bookings = parse_ics(FEED, timezone=TZ, start=_t("2025-03-17 15:00"), end=_t("2025-03-20"))
    assert [b.title for b in bookings] == ["张三 核磁 1H (改期)"]


def _event(*lines: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:x", *lines, "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(body).encode() + b"\r\n"


BROKEN = {
    "a CSV": b"instrument,start,end\n",
    "empty": b"",
    "no DTSTART": _event("SUMMARY:x"),
    "a bad rule": _event("DTSTART:20250101T090000", "RRULE:FREQ=BOGUS"),
    "a bad time": _event("DTSTART:garbage"),
    "binary": b"\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("raw", BROKEN.values(), ids=BROKEN.keys())
def test_a_file_that_is_not_a_calendar_is_refused(raw: bytes) -> None:
    with pytest.raises(SessionImportError, match="not an iCalendar file"):
        parse_ics(raw, timezone=TZ, start=0, end=1e10)
