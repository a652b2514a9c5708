"""FCS (Flow Cytometry Standard 2.0/3.0/3.1) TEXT segment reading: acquisition start and end.

The 58-byte HEADER gives the TEXT segment's byte offsets (columns 10-17 and 18-25); TEXT is a
delimiter-separated list of keyword/value pairs whose first byte is the delimiter (a doubled
delimiter is a literal one). ``$DATE`` with ``$BTIM``/``$ETIM`` date the acquisition
(FCS 3.1 §3.2.18: hh:mm:ss[.cc]; FCS 3.0 wrote hh:mm:ss[:tt] with tt in 1/60 s; instruments in
the samples also write 3-digit milliseconds after a colon).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from jishi.errors import JishiError

HEADER_BYTES = 58
_TIME = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:([.:])(\d+))?$")
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
)}  # fmt: skip


class FcsError(JishiError, ValueError):
    """Not an FCS file, or its TEXT segment is cut short."""


def text_segment_bounds(header: bytes) -> tuple[int, int]:
    if len(header) < HEADER_BYTES or not header.startswith(b"FCS"):
        raise FcsError("no FCS header")
    try:
        return int(header[10:18]), int(header[18:26])
    except ValueError:
        raise FcsError("FCS header offsets are not numbers") from None


def parse_text_segment(segment: bytes) -> dict[str, str]:
    """Keyword -> value (keywords upper-cased, as the standard says they are case-insensitive)."""
    if not segment:
        return {}
    text = segment.decode("utf-8", errors="replace")
    delimiter = text[0]
    fields: list[str] = []
    current: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == delimiter:
            if index + 1 < len(text) and text[index + 1] == delimiter:
                current.append(delimiter)
                index += 2
                continue
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if current:
        fields.append("".join(current))
    return {fields[i].strip().upper(): fields[i + 1].strip() for i in range(0, len(fields) - 1, 2)}


def parse_fcs(data: bytes) -> dict[str, str]:
    """Keywords of a whole (or header+TEXT prefix of an) FCS file."""
    start, end = text_segment_bounds(data[:HEADER_BYTES])
    if end >= len(data):
        raise FcsError("file shorter than its TEXT segment")
    return parse_text_segment(data[start : end + 1])


def parse_date(text: str) -> date | None:
    """``dd-mmm-yyyy`` (standard), plus ``dd-mmm-yy`` and ``yyyy-mmm-dd`` seen in real files."""
    parts = re.split(r"[-/ ]", text.strip())
    if len(parts) != 3:
        return None
    try:
        if parts[0].isdigit() and len(parts[0]) == 4:
            year, month, day = int(parts[0]), _MONTHS[parts[1][:3].upper()], int(parts[2])
        else:
            day, month, year = int(parts[0]), _MONTHS[parts[1][:3].upper()], int(parts[2])
            if year < 100:
                year += 2000 if year < 70 else 1900
        return date(year, month, day)
    except (KeyError, ValueError):
        return None


def parse_clock(text: str) -> time | None:
    match = _TIME.match(text.strip())
    if not match:
        return None
    hours, minutes, seconds, sep, frac = match.groups()
    micro = 0
    if frac:
        if sep == ":" and len(frac) <= 2:
            micro = round(int(frac) / 60 * 1_000_000)  # FCS 3.0: 1/60 s
        else:
            micro = round(int(frac) / 10 ** len(frac) * 1_000_000)
    try:
        return time(int(hours), int(minutes), int(seconds), min(micro, 999_999))
    except ValueError:
        return None


def acquisition_span(keywords: dict[str, str]) -> tuple[datetime, datetime | None] | None:
    """Naive local (start, end) of the acquisition; an end before the start crossed midnight."""
    day = parse_date(keywords.get("$DATE", ""))
    begin = parse_clock(keywords.get("$BTIM", ""))
    if day is None or begin is None:
        return None
    start = datetime.combine(day, begin)
    finish = parse_clock(keywords.get("$ETIM", ""))
    if finish is None:
        return start, None
    end = datetime.combine(day, finish)
    if end < start:
        end += timedelta(days=1)
    return start, end
