"""CSV import of user sessions from booking systems: parse and check every row, all-or-nothing.

Columns (header row required, order free; UTF-8 with or without BOM, or GBK / GB18030 as
Chinese Excel saves "CSV"; see docs/collector.md):
``instrument`` (required), ``start`` (required), ``end`` (required), ``user``, ``org``,
``contact`` (phone or e-mail, at most 200 characters), ``user_type`` (internal / external /
staff, also 校内 / 校外 / 内部 / 外部), ``service_way``, ``direction``, ``satisfaction``
(number), ``sample_count`` (integer), ``session_id``. Times are
ISO 8601 (``2025-03-01T09:00:00+08:00``, or ``2025-03-01 09:00`` in the site time zone).
Pure: text in, records or line-numbered errors out.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from jishi.collector.ledger.session_input import SessionImportError, SessionRecord
from jishi.collector.usage.engine import Session

REQUIRED = ("instrument", "start", "end")
OPTIONAL = (
    "user",
    "org",
    "contact",
    "user_type",
    "service_way",
    "direction",
    "satisfaction",
    "sample_count",
    "session_id",
)
USER_TYPE_NAMES = {
    "internal": "internal",
    "external": "external",
    "staff": "staff",
    "校内": "internal",
    "内部": "internal",
    "校外": "external",
    "外部": "external",
    "工作人员": "staff",
}


def parse_time(text: str, zone: ZoneInfo) -> float:
    """ISO 8601; a time without offset is local time of the site."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.timestamp()


def decode_csv(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM), else GB18030, which covers GBK and GB2312
    (what Excel on a Chinese Windows writes as "CSV", issue 14). Bytes valid in neither raise
    :class:`SessionImportError`."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise SessionImportError(
            [(None, f"neither UTF-8 nor GBK/GB18030 text (byte {exc.start}); save it as UTF-8")]
        ) from None


def parse_sessions_csv(text: str, timezone: str) -> list[SessionRecord]:
    """Every row as a record, or :class:`SessionImportError` listing every bad row."""
    records, problems = read_sessions_csv(text, timezone)
    if problems:
        raise SessionImportError(problems)
    return records


def read_sessions_csv(
    text: str, timezone: str
) -> tuple[list[SessionRecord], list[tuple[int | None, str]]]:
    """The good rows as records and every bad row's ``(line, problem)``, so that a caller can
    add its own checks of the good rows (known instruments) and report all at once."""
    zone = ZoneInfo(timezone)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        return [], [(1, f"not a CSV header: {exc}")]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        return [], [(1, f"header lacks column(s): {', '.join(missing)}")]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if unknown:
        return [], [(1, f"unknown column(s): {', '.join(unknown)}")]
    records: list[SessionRecord] = []
    problems: list[tuple[int | None, str]] = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
            problems.append((reader.line_num, f"not CSV: {exc}"))
            break
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            records.append(_record(reader.line_num, values, zone))
        except ValueError as exc:
            problems.append((reader.line_num, str(exc)))
    return records, problems


def require(values: dict[str, str], names: tuple[str, ...] = REQUIRED) -> None:
    """Raise ``ValueError`` naming the first of ``names`` that a row leaves empty."""
    for name in names:
        if not values.get(name):
            raise ValueError(f"{name} is empty")


def _record(line: int, values: dict[str, str], zone: ZoneInfo) -> SessionRecord:
    require(values)
    try:
        start = parse_time(values["start"], zone)
        end = parse_time(values["end"], zone)
    except ValueError:
        raise ValueError(
            f"start/end must be ISO 8601 times (got {values['start']!r}, {values['end']!r})"
        ) from None
    if end <= start:
        raise ValueError(f"end {values['end']!r} is not after start {values['start']!r}")
    user_type = values.get("user_type") or None
    if user_type is not None:
        if user_type.lower() not in USER_TYPE_NAMES and user_type not in USER_TYPE_NAMES:
            raise ValueError(f"user_type {user_type!r} is not internal, external or staff")
        user_type = USER_TYPE_NAMES.get(user_type.lower(), USER_TYPE_NAMES.get(user_type))
    satisfaction = _number(values.get("satisfaction"), "satisfaction", float)
    samples = _number(values.get("sample_count"), "sample_count", int)
    session_id = values.get("session_id") or _row_id(values)
    session = Session(
        start=start,
        end=end,
        session_id=session_id[:200],
        user=values.get("user") or None,
        org=values.get("org") or None,
        user_type=user_type,
        service_way=values.get("service_way") or None,
        direction=values.get("direction") or None,
        satisfaction=None if satisfaction is None else float(satisfaction),
        sample_count=None if samples is None else int(samples),
        contact=_contact(values.get("contact")),
    )
    return SessionRecord(instrument=values["instrument"], session=session, line=line)


def _number(text: str | None, name: str, kind: type[float] | type[int]) -> float | int | None:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a {kind.__name__}") from None


def _contact(text: str | None) -> str | None:
    if not text:
        return None
    # The column is String(200): a longer value would fail the whole import with a database
    # error instead of a line-numbered problem.
    if len(text) > 200:
        raise ValueError(f"contact is longer than 200 characters ({len(text)})")
    return text


def _row_id(values: dict[str, str]) -> str:
    """A stable id for rows without one, so importing the same file twice changes nothing."""
    key = "|".join(values.get(k, "") for k in ("instrument", "start", "end", "user"))
    return "csv-" + hashlib.sha256(key.encode()).hexdigest()[:24]
