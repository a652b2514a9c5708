"""CSV of the user directory: parse and check every row, report every bad row at once (pure).

Columns (header row required, order free; UTF-8 or GBK/GB18030 as Chinese Excel saves it,
decoded by :func:`jishi.collector.ingest.sessions_csv.decode_csv`), English or Chinese names:
``account`` / 账号 (required), ``user_type`` / 用户类型 (required: internal / external / staff,
also 校内 / 校外 / 内部 / 外部 / 工作人员), ``card`` / 卡号, ``email`` / 邮箱, ``person`` /
姓名, ``org`` / 单位, ``unit`` / 管理单位. An account or card number given twice is a bad row.
"""

from __future__ import annotations

import csv
import io

from jishi.collector.ingest.sessions_csv import USER_TYPE_NAMES
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.usage.users import DirectoryEntry

# Header names a Chinese spreadsheet may carry, to the column they mean.
HEADERS = {
    "account": "account",
    "账号": "account",
    "user_type": "user_type",
    "用户类型": "user_type",
    "card": "card",
    "卡号": "card",
    "email": "email",
    "邮箱": "email",
    "person": "person",
    "姓名": "person",
    "org": "org",
    "单位": "org",
    "unit": "unit",
    "管理单位": "unit",
}
REQUIRED = ("account", "user_type")
_LIMITS = {"account": 200, "card": 100, "email": 200, "person": 200, "org": 200, "unit": 200}


def parse_directory_csv(text: str) -> list[DirectoryEntry]:
    """Every row as an entry, or :class:`SessionImportError` listing every bad row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [HEADERS.get(name.strip(), name.strip()) for name in next(reader, [])]
    except csv.Error as exc:
        raise SessionImportError([(1, f"not a CSV header: {exc}")]) from None
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in _LIMITS and name != "user_type"]
    problems = [f"header lacks column(s): {', '.join(missing)}"] if missing else []
    problems += [f"unknown column(s): {', '.join(unknown)}"] if unknown else []
    if problems:
        raise SessionImportError([(1, text) for text in problems])
    entries: list[DirectoryEntry] = []
    bad: list[tuple[int | None, str]] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            values = dict(zip(header, (cell.strip() for cell in row), strict=False))
            try:
                entry = _entry(values)
                _unique(entry, reader.line_num, seen)
            except ValueError as exc:
                bad.append((reader.line_num, str(exc)))
                continue
            entries.append(entry)
    except csv.Error as exc:
        bad.append((reader.line_num, f"not CSV: {exc}"))
    if bad:
        raise SessionImportError(bad)
    return entries


def _entry(values: dict[str, str]) -> DirectoryEntry:
    for name in REQUIRED:
        if not values.get(name):
            raise ValueError(f"{name} is empty")
    for name, limit in _LIMITS.items():
        if len(values.get(name, "")) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
    given = values["user_type"]
    user_type = USER_TYPE_NAMES.get(given.lower(), USER_TYPE_NAMES.get(given))
    if user_type is None:
        raise ValueError(f"user_type {given!r} is not internal, external or staff")
    email = values.get("email") or None
    if email is not None and "@" not in email:
        raise ValueError(f"email {email!r} has no @")
    return DirectoryEntry(
        account=values["account"],
        user_type=user_type,
        card=values.get("card") or None,
        email=None if email is None else email.lower(),
        person=values.get("person") or None,
        org=values.get("org") or None,
        unit=values.get("unit") or None,
    )


def _unique(entry: DirectoryEntry, line: int, seen: dict[str, int]) -> None:
    """Refuse a key that an earlier row already uses (the file would contradict itself)."""
    for key in entry.lookup_keys():
        if key in seen:
            raise ValueError(f"{key!r} is already on line {seen[key]}")
    for key in entry.lookup_keys():
        seen[key] = line
