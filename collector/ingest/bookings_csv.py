"""CSV of bookings from a booking system: parse and check every row, report all bad rows (pure).

Columns (header row required, order free; UTF-8 or GBK/GB18030, decoded as session CSVs are):
``instrument``, ``start``, ``end`` (required; ISO 8601, site-local without an offset, a date
alone is its midnight), ``user``, ``title``, ``booking_id`` (else one is made from the row, so
importing a file twice changes nothing).
"""

from __future__ import annotations

import csv
import hashlib
import io
from zoneinfo import ZoneInfo

from jishi.collector.ingest.sessions_csv import parse_time, require
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.usage.bookings import Booking, BookingRecord

REQUIRED = ("instrument", "start", "end")
COLUMNS = (*REQUIRED, "user", "title", "booking_id")


def read_bookings_csv(
    text: str, timezone: str
) -> tuple[list[BookingRecord], list[tuple[int | None, str]]]:
    """The good rows as records and every bad row's ``(line, problem)``, so that the caller
    can add its own checks (known instruments) and report all at once. A bad header raises
    :class:`SessionImportError` at once."""
    zone = ZoneInfo(timezone)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        raise SessionImportError(
            [(1, f"header needs {', '.join(REQUIRED)}; may add user, title, booking_id")]
        )
    records: list[BookingRecord] = []
    problems: list[tuple[int | None, str]] = []
    try:
        for row in reader:
            values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            try:
                records.append(_record(reader.line_num, values, zone))
            except ValueError as exc:
                problems.append((reader.line_num, str(exc)))
    except csv.Error as exc:
        problems.append((reader.line_num, f"not CSV: {exc}"))
    return records, problems


def _record(line: int, values: dict[str, str], zone: ZoneInfo) -> BookingRecord:
    require(values, REQUIRED)
    try:
        start, end = parse_time(values["start"], zone), parse_time(values["end"], zone)
    except ValueError:
        raise ValueError(
            f"start/end must be ISO 8601 times (got {values['start']!r}, {values['end']!r})"
        ) from None
    if end <= start:
        raise ValueError(f"end {values['end']!r} is not after start {values['start']!r}")
    key = "|".join(values.get(k, "") for k in ("instrument", "start", "end", "user"))
    booking_id = values.get("booking_id") or "csv-" + hashlib.sha256(key.encode()).hexdigest()[:24]
    booking = Booking(
        start=start,
        end=end,
        booking_id=booking_id[:300],
        user=(values.get("user") or None),
        title=(values.get("title") or None),
    )
    if any(len(v or "") > 200 for v in (booking.user, booking.title)):
        raise ValueError("user and title are at most 200 characters")
    return BookingRecord(values["instrument"], booking, line)
