"""State inference: pure rules that turn readings into one instrument state.

Theory of operation. Each instrument has an ordered set of rules:

* threshold rules on a numeric reading (power W, current A, ...) with hysteresis: to move up
  across a boundary the reading must reach ``boundary + hysteresis``; it moves down as soon as
  it falls below the boundary. A meter hovering at a boundary does not flap, and "off below
  5 W" always holds whatever the hysteresis;
* discrete maps (register value or status word -> state);
* explicit state events from sources (log lines, marker files), which hold until the next event
  (an event older than the last one applied is ignored, so late-found files cannot roll back);
* a declared maintenance flag.

Every rule proposes a candidate; the highest by precedence wins
(maintenance > fault > running > idle > off). A candidate must persist ``min_dwell_s`` before it
replaces the current state; the change is then dated from when the candidate first appeared.
The raw values that decided a state travel with it. No I/O, no clock: time is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jishi.agent.wire import InstrumentState
from jishi.drivers.base import Reading, Value

PRECEDENCE: dict[InstrumentState, int] = {
    InstrumentState.OFF: 0,
    InstrumentState.IDLE: 1,
    InstrumentState.RUNNING: 2,
    InstrumentState.FAULT: 3,
    InstrumentState.MAINTENANCE: 4,
}
_LEVELS = (InstrumentState.OFF, InstrumentState.IDLE, InstrumentState.RUNNING)


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """``reading < off_below`` -> off, ``reading >= running_above`` -> running, else idle;
    ``reading >= fault_above`` -> fault. A boundary left as ``None`` is not used."""

    reading: str
    off_below: float | None = None
    running_above: float | None = None
    fault_above: float | None = None
    hysteresis: float = 0.0

    def _boundaries(self) -> tuple[float | None, float | None]:
        return self.off_below, self.running_above

    def evaluate(self, value: float, current: InstrumentState | None) -> InstrumentState:
        if self.fault_above is not None and value >= self.fault_above:
            return InstrumentState.FAULT
        lowest = 0 if self.off_below is not None else 1
        highest = 2 if self.running_above is not None else 1
        boundaries = self._boundaries()
        if current in _LEVELS and self.hysteresis > 0:
            level = max(lowest, min(highest, _LEVELS.index(current)))
            hyst = self.hysteresis
        else:
            level, hyst = lowest, 0.0
        # Climb while the reading is clearly above the next boundary (by the hysteresis),
        # then descend while it is below the one beneath.
        while level < highest:
            upper = boundaries[level]
            if upper is None or value < upper + hyst:
                break
            level += 1
        while level > lowest:
            lower = boundaries[level - 1]
            if lower is None or value >= lower:
                break
            level -= 1
        return _LEVELS[level]


@dataclass(frozen=True, slots=True)
class DiscreteRule:
    """Maps a reading's value (register value, status word) to a state; unmapped values give
    ``default`` or no opinion."""

    reading: str
    states: Mapping[str, InstrumentState]
    default: InstrumentState | None = None

    def evaluate(self, value: Value) -> InstrumentState | None:
        key = _discrete_key(value)
        return self.states.get(key, self.default)


def _discrete_key(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Rules:
    thresholds: tuple[ThresholdRule, ...] = ()
    discrete: tuple[DiscreteRule, ...] = ()
    min_dwell_s: float = 0.0
    maintenance: bool = False
    # State assumed before any reading or event; None means "no opinion yet".
    initial: InstrumentState | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A decided state change, dated at the instrument, with the values that decided it."""

    state: InstrumentState
    previous: InstrumentState | None
    since: datetime
    reason: str
    readings: Mapping[str, Value] = field(default_factory=dict)


class StateInferrer:
    """Keeps one instrument's inferred state; ``feed`` a reading, get the transitions it caused."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.state: InstrumentState | None = rules.initial
        self.since: datetime | None = None
        self.reason = ""
        self.readings: dict[str, Value] = {}
        self._event_state: InstrumentState | None = None
        self._event_reason = ""
        self._event_ts: datetime | None = None
        self._pending: tuple[InstrumentState, datetime, str] | None = None
        self._threshold_state: dict[str, InstrumentState] = {}

    @property
    def pending_since(self) -> datetime | None:
        """When a not-yet-accepted new state (waiting out ``min_dwell_s``) first appeared."""
        return None if self._pending is None else self._pending[1]

    def snapshot(self) -> dict[str, Any]:
        """What must survive a restart: the decided state, the last event and a pending
        change. Readings and reasons are left out (they change every poll)."""
        return {
            "state": self.state.value if self.state else None,
            "since": self.since.isoformat() if self.since else None,
            "event_state": self._event_state.value if self._event_state else None,
            "event_reason": self._event_reason,
            "event_ts": self._event_ts.isoformat() if self._event_ts else None,
            "pending": None
            if self._pending is None
            else [self._pending[0].value, self._pending[1].isoformat(), self._pending[2]],
            "thresholds": {k: v.value for k, v in sorted(self._threshold_state.items())},
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from a :meth:`snapshot` taken before a restart."""

        def when(text: Any) -> datetime | None:
            return datetime.fromisoformat(text) if isinstance(text, str) else None

        def state(text: Any) -> InstrumentState | None:
            return InstrumentState(text) if isinstance(text, str) else None

        self.state = state(snapshot.get("state")) or self.state
        self.since = when(snapshot.get("since"))
        self._event_state = state(snapshot.get("event_state"))
        self._event_reason = str(snapshot.get("event_reason") or "")
        self._event_ts = when(snapshot.get("event_ts"))
        pending = snapshot.get("pending")
        if isinstance(pending, list) and len(pending) == 3:
            pending_state, pending_ts = state(pending[0]), when(pending[1])
            if pending_state is not None and pending_ts is not None:
                self._pending = (pending_state, pending_ts, str(pending[2]))
        thresholds = snapshot.get("thresholds") or {}
        self._threshold_state = {str(k): InstrumentState(v) for k, v in thresholds.items()}

    def feed(self, reading: Reading) -> list[Transition]:
        """Apply one reading (its events first, in time order); failed reads change nothing."""
        transitions: list[Transition] = []
        if not reading.ok:
            return transitions
        for event in sorted(reading.events, key=lambda e: e.ts):
            if self._event_ts is not None and event.ts < self._event_ts:
                # A newer event already decided (a log file found late): an older one must not
                # roll the state back, and transitions stay in time order.
                continue
            self._event_ts = event.ts
            self._event_state = InstrumentState(event.state)
            self._event_reason = event.reason or f"event {event.state}"
            transitions.extend(self._consider(event.ts, dict(reading.values)))
        if reading.values or not reading.events:
            self.readings.update(reading.values)
            transitions.extend(self._consider(reading.ts, dict(reading.values)))
        return transitions

    def _candidates(self, values: Mapping[str, Value]) -> list[tuple[InstrumentState, str]]:
        found: list[tuple[InstrumentState, str]] = []
        if self.rules.maintenance:
            found.append((InstrumentState.MAINTENANCE, "declared maintenance"))
        if self._event_state is not None:
            found.append((self._event_state, self._event_reason))
        merged = {**self.readings, **values}
        for rule in self.rules.thresholds:
            value = merged.get(rule.reading)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            previous = self._threshold_state.get(rule.reading, self.state)
            state = rule.evaluate(float(value), previous)
            self._threshold_state[rule.reading] = state
            found.append((state, f"{rule.reading}={value:g} -> {state.value}"))
        for discrete in self.rules.discrete:
            if discrete.reading not in merged:
                continue
            raw = merged[discrete.reading]
            mapped = discrete.evaluate(raw)
            if mapped is not None:
                found.append((mapped, f"{discrete.reading}={raw} -> {mapped.value}"))
        return found

    def _consider(self, ts: datetime, values: Mapping[str, Value]) -> list[Transition]:
        candidates = self._candidates(values)
        if not candidates:
            return []
        state, reason = max(candidates, key=lambda c: PRECEDENCE[c[0]])
        if state == self.state:
            self._pending = None
            self.reason = reason
            return []
        if self.state is not None and self.rules.min_dwell_s > 0:
            if self._pending is None or self._pending[0] != state:
                self._pending = (state, ts, reason)
                return []
            first_seen = self._pending[1]
            if (ts - first_seen).total_seconds() < self.rules.min_dwell_s:
                return []
            ts = first_seen
        self._pending = None
        previous = self.state
        self.state, self.since, self.reason = state, ts, reason
        decided_by = {**self.readings, **values}
        return [Transition(state, previous, ts, reason, decided_by)]


def latest_values(readings: Sequence[Reading]) -> dict[str, Value]:
    """The newest value of every reading name across several readings."""
    merged: dict[str, Value] = {}
    for reading in readings:
        if reading.ok:
            merged.update(reading.values)
    return merged
