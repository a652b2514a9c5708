"""Pure side of the serial driver: profiles (queries and reply patterns) and line splitting.

A reply line is tried against a query's patterns in order; the first match gives readings
(its named groups, as numbers when they look like numbers; groups named ``*_byte`` become the
character's code, for status bytes such as the Cavro pump's), constant ``values`` and an
optional ``state``. Nothing here touches a port.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jishi.drivers.base import DriverConfigError, Value
from jishi.drivers.log_rules import STATES
from jishi.drivers.options import load_profile_tables

PROFILE_FILE = "serial.toml"
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


@dataclass(frozen=True, slots=True)
class ReplyPattern:
    """A regex on a reply that gives readings and, optionally, a state."""

    pattern: re.Pattern[str]
    values: Mapping[str, Value] = field(default_factory=dict)
    state: str | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str) -> ReplyPattern:
        raw = table.get("pattern")
        if not isinstance(raw, str):
            raise DriverConfigError(f"{where}: pattern (a regex) is required")
        try:
            pattern = re.compile(raw)
        except re.error as exc:
            raise DriverConfigError(f"{where}: pattern {raw!r}: {exc}") from None
        state = table.get("state")
        if state is not None and state not in STATES:
            raise DriverConfigError(f"{where}: state {state!r} must be one of {', '.join(STATES)}")
        values = table.get("values", {})
        if not isinstance(values, Mapping):
            raise DriverConfigError(f"{where}: values must be a table")
        return cls(pattern, dict(values), state)


@dataclass(frozen=True, slots=True)
class Query:
    """One command sent each poll and the patterns its reply is matched against."""

    command: str | None  # None in listen mode
    patterns: tuple[ReplyPattern, ...]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one reply gave: readings, a state and why."""

    values: dict[str, Value]
    state: str | None
    reason: str


def parse_reply(line: str, patterns: Sequence[ReplyPattern]) -> Parsed | None:
    for item in patterns:
        found = item.pattern.search(line)
        if found is None:
            continue
        values: dict[str, Value] = dict(item.values)
        for key, text in found.groupdict().items():
            if text is None:
                continue
            if key.endswith("_byte") and len(text) == 1:
                values[key] = ord(text)
            elif _NUMBER.match(text.strip()):
                number = float(text)
                values[key] = int(number) if number.is_integer() and "." not in text else number
            else:
                values[key] = text.strip()
        return Parsed(values, item.state, f"{line.strip()!r} matched {item.pattern.pattern!r}")
    return None


@dataclass(frozen=True, slots=True)
class SerialProfile:
    """A device's serial protocol as data: line settings, queries, reply patterns."""

    name: str
    queries: tuple[Query, ...]
    listen_patterns: tuple[ReplyPattern, ...]
    terminator: str
    reply_terminator: str
    settings: Mapping[str, Any]


def load_serial_profile(
    name: str,
    *,
    user_file: Path | None,
    command: str | None,
    extra_patterns: Sequence[Mapping[str, Any]],
    where: str,
) -> SerialProfile:
    tables = load_profile_tables(PROFILE_FILE, user_file, where)
    if name not in tables:
        raise DriverConfigError(
            f"{where}: profile: unknown serial profile {name!r}; "
            f"available: {', '.join(sorted(tables))}"
        )
    table = tables[name]
    extra = tuple(
        ReplyPattern.from_table(t, f"{where}: patterns[{i}]") for i, t in enumerate(extra_patterns)
    )
    queries: list[Query] = []
    for index, query in enumerate(table.get("queries", [])):
        patterns = tuple(
            ReplyPattern.from_table(t, f"{where}: profile {name!r} queries[{index}]")
            for t in query.get("patterns", [])
        )
        queries.append(Query(str(query.get("command", "")), (*extra, *patterns)))
    if command is not None:
        # An explicit command replaces the profile's queries (one query, all patterns).
        patterns = tuple(p for q in queries for p in q.patterns) or extra
        queries = [Query(command, patterns if queries else extra)]
    listen = tuple(p for q in queries for p in q.patterns) or extra
    return SerialProfile(
        name=name,
        queries=tuple(queries),
        listen_patterns=listen,
        terminator=str(table.get("terminator", "\r\n")),
        reply_terminator=str(table.get("reply_terminator", "\r\n")),
        settings={
            k: table[k] for k in ("baudrate", "parity", "bytesize", "stopbits") if k in table
        },
    )


class LineBuffer:
    """Listen mode: bytes in, complete lines out (partial line kept)."""

    def __init__(self, terminator: bytes = b"\n", encoding: str = "latin-1") -> None:
        self.terminator = terminator or b"\n"
        self.encoding = encoding
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(self.terminator)
        return [line.decode(self.encoding, errors="replace").strip("\r\n") for line in lines]
