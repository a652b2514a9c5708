"""Expands a dashboard's InfluxQL the way Grafana does before it reaches InfluxDB, so tests can run
every panel query against a real server.

Two stages, as in Grafana (frontend ``templateSrv.replace(query, vars, 'regex')``, then the
InfluxDB backend's ``Query.Build``):

1. template variables: ``$var``, ``${var}``, ``[[var]]``; with the ``regex`` format every value is
   regex-escaped (Grafana's ``regexEscape``), several values become ``(a|b)``, and "All" with a
   custom ``allValue`` is inserted unformatted. ``${__from}`` / ``${__to}`` are the range in epoch
   ms. Unknown names are left as they are (``$timeFilter`` and ``$__interval`` are backend macros).
2. backend macros, in the backend's order: ``$timeFilter`` -> ``time >= {from}ms and time <=
   {to}ms``, ``$interval``, ``$__interval_ms``, ``$__interval``; the interval is the frontend's
   ``calculateInterval`` (range / max data points, rounded by ``roundInterval``, not below the
   panel's or datasource's minimum) formatted by the SDK's ``gtime.FormatInterval``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
ALL = "$__all"

# (upper bound exclusive, rounded interval) in ms, from Grafana's rangeutil roundInterval.
_ROUND = [
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
]
_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def round_interval(ms: float) -> int:
    for bound, value in _ROUND:
        if ms < bound:
            return value
    return 31_536_000_000


def parse_interval(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text.strip())
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def calculate_interval_ms(
    from_ms: int, to_ms: int, max_data_points: int, min_interval: str | None
) -> int:
    interval = round_interval((to_ms - from_ms) / max_data_points)
    low = parse_interval(min_interval) if min_interval else 1
    return max(interval, low)


def format_interval(ms: int) -> str:
    """``gtime.FormatInterval``: the largest unit that fits, truncated."""
    for unit, size in (("y", 31_536_000_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    if ms >= 1_000:
        return f"{ms // 1_000}s"
    return f"{max(ms, 1)}ms"


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


@dataclass(frozen=True)
class Variable:
    """A template variable's current value(s) as the dashboard user picked them."""

    name: str
    value: str | Sequence[str]
    all_value: str | None = None
    options: Sequence[str] = field(default_factory=tuple)

    def formatted(self) -> str:
        values = [self.value] if isinstance(self.value, str) else list(self.value)
        if values == [ALL] or ALL in values:
            if self.all_value is not None:
                return self.all_value  # custom all values skip formatting in Grafana
            values = list(self.options)
        escaped = [regex_escape(v) for v in values]
        if len(escaped) == 1:
            return escaped[0]
        return "(" + "|".join(escaped) + ")"


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int


def replace_variables(text: str, variables: Mapping[str, Variable], time_range: TimeRange) -> str:
    globals_ = {"__from": str(time_range.from_ms), "__to": str(time_range.to_ms)}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name in globals_:
            return globals_[name]
        variable = variables.get(name)
        if variable is None:
            return match.group(0)
        return variable.formatted()

    return _VARIABLE.sub(substitute, text)


def expand_backend(text: str, time_range: TimeRange, interval_ms: int) -> str:
    interval = format_interval(interval_ms)
    text = text.replace(
        "$timeFilter", f"time >= {time_range.from_ms}ms and time <= {time_range.to_ms}ms"
    )
    text = text.replace("$interval", interval)
    text = text.replace("$__interval_ms", str(interval_ms))
    return text.replace("$__interval", interval)


def expand(
    query: str,
    variables: Mapping[str, Variable],
    time_range: TimeRange,
    *,
    max_data_points: int = 1000,
    min_interval: str | None = None,
) -> str:
    """The text InfluxDB receives for ``query`` in a panel with these settings."""
    interval_ms = calculate_interval_ms(
        time_range.from_ms, time_range.to_ms, max_data_points, min_interval
    )
    return expand_backend(replace_variables(query, variables, time_range), time_range, interval_ms)


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (panel, target) of a dashboard, rows and nested panels included."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def walk(panels: Sequence[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((panel, target))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found


def all_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(panels: Sequence[dict[str, Any]]) -> None:
        for panel in panels:
            found.append(panel)
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found
