"""What the collector mirrors into InfluxDB: measurements, tags, state codes and line protocol.

Pure functions only (no I/O, no clock); the dashboards in ``dashboards/`` query exactly these
names, so a change here is a change of the dashboards' contract (docs/dashboards.md lists them).

Measurements (every instrument point carries the tags ``site``, ``unit``, ``instrument``,
``category``; a missing unit or category is written as ``none`` so regex filters still match):

* ``jishi_state``: one point per state transition (and per explicit re-assertion), fields
  ``code`` (int, :data:`STATE_CODES`), ``state`` (string), ``online`` (int 0/1), ``since`` and
  ``last_seen`` (epoch ms, int; for ``unknown``, when data was last fresh). A fresh instrument's
  state is re-asserted from heartbeats every few minutes so ``last_seen`` stays current.
  ``unknown`` is written as an explicit point when the collector declares an instrument stale or
  offline, so no dashboard carries a known state through it.
* ``jishi_reading``: the instrument's readings; numbers and booleans as float fields under their
  own names, text as string fields named ``<name>_text`` (a field keeps one type per shard).
* ``jishi_agent_health``: agent self-health from heartbeats.
* ``jishi_usage_daily``: one point per instrument and site-local day, timestamped at the day's
  start; rewritten with the same timestamp and tags when late data changes the day (InfluxDB
  replaces the fields of an existing point).
* ``jishi_sink``: the sink's own heartbeat (spool depth, counters), tags ``collector``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import TypedDict, Unpack

from jishi.agent.wire import AgentHealth
from jishi.collector.usage.engine import UsageFigures

MEASUREMENT_STATE = "jishi_state"
MEASUREMENT_READING = "jishi_reading"
MEASUREMENT_HEALTH = "jishi_agent_health"
MEASUREMENT_USAGE_DAILY = "jishi_usage_daily"
MEASUREMENT_SINK = "jishi_sink"

MISSING_TAG = "none"
FieldValue = float | int | str | bool


class StateCode(IntEnum):
    """Numeric state codes. Ordered so that ``max(code)`` over any time bucket prefers what must
    never be hidden: unknown over fault over maintenance over running over idle over off."""

    OFF = 0
    IDLE = 1
    RUNNING = 2
    MAINTENANCE = 3
    FAULT = 4
    UNKNOWN = 5


STATE_CODES: dict[str, int] = {code.name.lower(): int(code) for code in StateCode}


def state_code(state: str) -> int:
    """Code of a state name (``running`` -> 2); raises ``ValueError`` for an unknown name."""
    try:
        return STATE_CODES[str(state).lower()]
    except KeyError:
        raise ValueError(f"unknown instrument state {state!r}") from None


@dataclass(frozen=True, slots=True)
class InstrumentMeta:
    """Who a point is about: the four tags every instrument point carries."""

    site: str
    instrument: str
    unit: str | None = None
    category: str | None = None

    def tags(self) -> dict[str, str]:
        return {
            "site": self.site,
            "unit": self.unit or MISSING_TAG,
            "instrument": self.instrument,
            "category": self.category or MISSING_TAG,
        }

    @property
    def key(self) -> str:
        """Identity of the instrument's series (site and instrument are unique together)."""
        return f"{self.site}/{self.instrument}"


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point: measurement, tags, fields and a nanosecond timestamp."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts_ns: int
    # Series key of a state point, kept beside the line so history can be rewritten later.
    state_key: str | None = field(default=None, compare=False)


def to_ns(ts: datetime) -> int:
    """Epoch nanoseconds of an aware datetime (microsecond resolution, exact integer maths)."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def to_ms(ts: datetime) -> int:
    return to_ns(ts) // 1_000_000


# --- line protocol (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/)


def _escape_key(text: str) -> str:
    # Measurement names, tag keys/values and field keys escape commas, spaces and equals signs.
    return text.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", r"\,").replace(" ", r"\ ")


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def encode_line(point: Point) -> str:
    """One point as a line of InfluxDB line protocol with a nanosecond timestamp.

    Empty tag values are left out (line protocol forbids them); non-finite floats are left out
    (InfluxDB rejects NaN and Inf); a point with no field left raises ``ValueError``.
    """
    tags = "".join(
        f",{_escape_key(key)}={_escape_key(value)}"
        for key, value in sorted(point.tags.items())
        if value != ""
    )
    fields = ",".join(
        f"{_escape_key(key)}={_field_value(value)}"
        for key, value in sorted(point.fields.items())
        if not (isinstance(value, float) and not math.isfinite(value))
    )
    if not fields:
        raise ValueError(f"point of {point.measurement} has no writable field")
    return f"{_escape_measurement(point.measurement)}{tags} {fields} {point.ts_ns}"


# --- point builders -----------------------------------------------------------------------


class StateFacts(TypedDict, total=False):
    """What a state point says besides the state: ``online`` (default true), ``since`` and
    ``last_seen`` (default: the point's time), a ``reason``."""

    online: bool
    since: datetime | None
    last_seen: datetime | None
    reason: str | None


def state_point(
    meta: InstrumentMeta, ts: datetime, state: str, **facts: Unpack[StateFacts]
) -> Point:
    """The instrument is in ``state`` from ``ts`` on (until the next state point)."""
    code = state_code(state)
    fields: dict[str, FieldValue] = {
        "code": code,
        "state": StateCode(code).name.lower(),
        "online": 1 if facts.get("online", True) else 0,
        "since": to_ms(facts.get("since") or ts),
    }
    fields["last_seen"] = to_ms(facts.get("last_seen") or ts)
    reason = facts.get("reason")
    if reason:
        fields["reason"] = reason[:256]
    return Point(MEASUREMENT_STATE, meta.tags(), fields, to_ns(ts), state_key=meta.key)


def reading_fields(readings: Mapping[str, object]) -> dict[str, FieldValue]:
    """Numbers and booleans become float fields, text ``<name>_text``; ``None`` is skipped."""
    fields: dict[str, FieldValue] = {}
    for name, value in readings.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            number = float(value)
            if math.isfinite(number):
                fields[name] = number
        else:
            fields[f"{name}_text"] = str(value)[:1024]
    return fields


def readings_point(
    meta: InstrumentMeta, ts: datetime, readings: Mapping[str, object]
) -> Point | None:
    fields = reading_fields(readings)
    if not fields:
        return None
    return Point(MEASUREMENT_READING, meta.tags(), fields, to_ns(ts))


# Every number of the agent's self-health, as the wire schema defines it.
HEALTH_FIELDS = tuple(
    name
    for name, info in AgentHealth.model_fields.items()
    if info.annotation in (int, float, int | None, float | None)
)


def health_point(
    meta: InstrumentMeta,
    ts: datetime,
    health: Mapping[str, object],
    *,
    heartbeat_interval_s: float | None = None,
) -> Point | None:
    """Agent self-health (the heartbeat's ``health`` object); every number as a float."""
    fields: dict[str, FieldValue] = {}
    for name in HEALTH_FIELDS:
        value = health.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = float(value)
    last_good = health.get("last_good_read")
    if isinstance(last_good, str):  # the wire model serialises it as ISO 8601 text
        try:
            last_good = datetime.fromisoformat(last_good.replace("Z", "+00:00"))
        except ValueError:
            last_good = None
    if isinstance(last_good, datetime) and last_good.tzinfo is not None:
        fields["last_good_read_age_s"] = max(0.0, (ts - last_good).total_seconds())
    if heartbeat_interval_s is not None:
        fields["heartbeat_interval_s"] = float(heartbeat_interval_s)
    if not fields:
        return None
    return Point(MEASUREMENT_HEALTH, meta.tags(), fields, to_ns(ts))


# Every seconds figure of the usage engine; ``period_s`` is the day's own length (below).
USAGE_FIELDS = tuple(f.name for f in dataclasses.fields(UsageFigures) if f.name != "period_s")


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """The usage figures of one instrument over one site-local day ``[day_start, day_end)``."""

    day_start: datetime
    day_end: datetime
    figures: Mapping[str, float]


def daily_usage_point(meta: InstrumentMeta, usage: DailyUsage) -> Point:
    """Daily roll-up at the day's start; ``period_s`` and the ratios are derived here so every
    dashboard divides the same way (a ratio with a zero denominator is written as 0)."""
    period_s = (usage.day_end - usage.day_start).total_seconds()
    if period_s <= 0:
        raise ValueError("day_end must be after day_start")
    fields: dict[str, FieldValue] = {
        name: float(usage.figures.get(name, 0.0)) for name in USAGE_FIELDS
    }
    fields["period_s"] = float(period_s)
    fields["completeness"] = max(0.0, 1.0 - float(fields["unknown_s"]) / period_s)
    effective, quota = float(fields["effective_s"]), float(fields["quota_s"])
    fields["utilization"] = effective / quota if quota > 0 else 0.0
    fields["share_rate"] = float(fields["external_service_s"]) / effective if effective > 0 else 0.0
    return Point(MEASUREMENT_USAGE_DAILY, meta.tags(), fields, to_ns(usage.day_start))


def sink_point(collector: str, ts: datetime, fields: Mapping[str, FieldValue]) -> Point:
    return Point(MEASUREMENT_SINK, {"collector": collector}, dict(fields), to_ns(ts))


@dataclass(frozen=True, slots=True)
class StateInterval:
    """A contiguous interval of one state, as the ledger's timeline returns it."""

    start: datetime
    end: datetime
    state: str


def state_at(intervals: Iterable[StateInterval], ts: datetime) -> str:
    """State in force at ``ts`` according to ``intervals``; ``unknown`` where none covers it."""
    for interval in intervals:
        if interval.start <= ts < interval.end:
            return interval.state
    return "unknown"
