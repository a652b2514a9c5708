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

How rules that disagree combine (docs/agent.md, "When rules disagree"): declared maintenance
wins; then a ``fault`` from any rule (an alarm is an alarm); otherwise the rule with the highest
``priority`` that has an opinion decides: by default source events (30), then discrete maps (20),
then thresholds (10), so "process not running -> off" gates a CPU threshold. Rules of equal
priority give the strongest state (running > idle > off).

A candidate must persist ``min_dwell_s`` before it replaces the current state; the change is
then dated from when the candidate first appeared. The raw values that decided a state travel
with it. No I/O, no clock: time is an argument.

Events found after the fact (DESIGN.md, "Freshness, evidence and unknown time"): an event newer
than the last one applied becomes a transition dated at the instrument's time; an event dated
in the future (a post-run wash that ends later) waits until it is due; a closed record (an event
with ``until``) older than the last one applied cannot change the current state, but is reported
as a closed interval so the run it records still counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jishi.agent.messages import InstrumentState
from jishi.drivers.base import Reading, StateEvent, Value
from jishi.states import STRENGTH

_LEVELS = (InstrumentState.OFF, InstrumentState.IDLE, InstrumentState.RUNNING)
# Default priorities of the rule kinds (a rule's own ``priority`` overrides them).
EVENT_PRIORITY = 30
DISCRETE_PRIORITY = 20
THRESHOLD_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """``reading < off_below`` -> off, ``reading >= running_above`` -> running, else idle;
    ``reading >= fault_above`` -> fault. A boundary left as ``None`` is not used."""

    reading: str
    off_below: float | None = None
    running_above: float | None = None
    fault_above: float | None = None
    hysteresis: float = 0.0
    priority: int = THRESHOLD_PRIORITY

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
    priority: int = DISCRETE_PRIORITY

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
    """The state rules of one instrument, as :class:`StateInferrer` applies them (built from
    ``RulesConfig``)."""

    thresholds: tuple[ThresholdRule, ...] = ()
    discrete: tuple[DiscreteRule, ...] = ()
    min_dwell_s: float = 0.0
    maintenance: bool = False
    # State assumed before any reading or event; None means "no opinion yet".
    initial: InstrumentState | None = None
    event_priority: int = EVENT_PRIORITY


@dataclass(frozen=True, slots=True)
class Transition:
    """A decided state change, dated at the instrument, with the values that decided it.

    ``record`` says it came from a source's record (log line, marker or run file) rather than a
    live reading; ``until`` closes it (a record with both ends that is older than the current
    state: it tells the past, not the present); ``source`` names the source of the record."""

    state: InstrumentState
    previous: InstrumentState | None
    since: datetime
    reason: str
    readings: Mapping[str, Value] = field(default_factory=dict)
    until: datetime | None = None
    record: bool = False
    source: str | None = None


@dataclass(frozen=True, slots=True)
class _Candidate:
    state: InstrumentState
    reason: str
    priority: int
    # The event behind it (records), else None.
    event: StateEvent | None = None


class StateInferrer:
    """Keeps one instrument's inferred state; ``feed`` a reading, get the transitions it caused."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.state: InstrumentState | None = rules.initial
        self.since: datetime | None = None
        self.reason = ""
        self.readings: dict[str, Value] = {}
        self._event: StateEvent | None = None
        self._deferred: list[StateEvent] = []
        self._pending: tuple[InstrumentState, datetime, str] | None = None
        self._threshold_state: dict[str, InstrumentState] = {}

    @property
    def pending_since(self) -> datetime | None:
        """When a not-yet-accepted new state (waiting out ``min_dwell_s``) first appeared."""
        return None if self._pending is None else self._pending[1]

    def resumed(self) -> Transition | None:
        """After a restart, the state a source's record gave, to be said again with its
        ``since``: a record holds until the source's next one (DESIGN.md), also across the time
        the agent was not running. None when the state did not come from a record."""
        event = self._event
        if self.state is None or self.since is None or event is None or not event.record:
            return None
        if InstrumentState(event.state) != self.state:
            return None
        reason = self.reason or event.reason or f"record {event.state}"
        return Transition(self.state, None, self.since, reason, record=True, source=event.source)

    @property
    def deferred(self) -> tuple[StateEvent, ...]:
        """Events dated in the future, applied when they are due."""
        return tuple(self._deferred)

    def snapshot(self) -> dict[str, Any]:
        """What must survive a restart: the decided state, the last event, events not yet due
        and a pending change. Readings and reasons are left out (they change every poll)."""
        return {
            "state": self.state.value if self.state else None,
            "since": self.since.isoformat() if self.since else None,
            "event": None if self._event is None else _event_json(self._event),
            "deferred": [_event_json(e) for e in self._deferred],
            "pending": None
            if self._pending is None
            else [self._pending[0].value, self._pending[1].isoformat(), self._pending[2]],
            "thresholds": {k: v.value for k, v in sorted(self._threshold_state.items())},
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from a :meth:`snapshot` taken before a restart (also one written by an
        older agent, which kept the event as ``event_state``/``event_reason``/``event_ts``)."""
        self.state = _state_of(snapshot.get("state")) or self.state
        self.since = _time_of(snapshot.get("since"))
        event = snapshot.get("event")
        if isinstance(event, Mapping):
            self._event = _event_from(event)
        else:
            self._event = _event_from(
                {
                    "ts": snapshot.get("event_ts"),
                    "state": snapshot.get("event_state"),
                    "reason": snapshot.get("event_reason"),
                    "record": True,
                }
            )
        deferred = snapshot.get("deferred") or []
        self._deferred = sorted(
            (e for e in map(_event_from, deferred) if e is not None), key=lambda e: e.ts
        )
        pending = snapshot.get("pending")
        if isinstance(pending, list) and len(pending) == 3:
            pending_state, pending_ts = _state_of(pending[0]), _time_of(pending[1])
            if pending_state is not None and pending_ts is not None:
                self._pending = (pending_state, pending_ts, str(pending[2]))
        thresholds = snapshot.get("thresholds") or {}
        self._threshold_state = {str(k): InstrumentState(v) for k, v in thresholds.items()}

    def feed(self, reading: Reading) -> list[Transition]:
        """Apply one reading (its events first, in time order); failed reads change nothing
        but let events that fell due apply. ``reading.ts`` is the present."""
        now = reading.ts
        due = [e for e in self._deferred if e.ts <= now]
        if not reading.ok and not due:
            return []
        self._deferred = [e for e in self._deferred if e.ts > now]
        events = due
        if reading.ok:
            self._deferred.extend(e for e in reading.events if e.ts > now)
            self._deferred.sort(key=lambda e: e.ts)
            events = due + [e for e in reading.events if e.ts <= now]
        values = dict(reading.values) if reading.ok else {}
        transitions: list[Transition] = []
        for event in sorted(events, key=lambda e: e.ts):
            if self._event is not None and event.ts < self._event.ts:
                # A newer event already decided (a log file found late): an older one must not
                # roll the state back, and transitions stay in time order. A closed record
                # still tells how the instrument spent that stretch.
                closed = _closed(event, now)
                if closed is not None:
                    transitions.append(closed)
                continue
            self._event = event
            transitions.extend(self._consider(event.ts, values))
        if reading.ok and (reading.values or not reading.events):
            self.readings.update(reading.values)
            transitions.extend(self._consider(reading.ts, values))
        return transitions

    def _candidates(self, values: Mapping[str, Value]) -> list[_Candidate]:
        found: list[_Candidate] = []
        if self.rules.maintenance:
            found.append(_Candidate(InstrumentState.MAINTENANCE, "declared maintenance", 10**6))
        event = self._event
        if event is not None:
            reason = event.reason or f"event {event.state}"
            state = InstrumentState(event.state)
            found.append(_Candidate(state, reason, self.rules.event_priority, event))
        merged = {**self.readings, **values}
        for rule in self.rules.thresholds:
            value = merged.get(rule.reading)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            previous = self._threshold_state.get(rule.reading, self.state)
            state = rule.evaluate(float(value), previous)
            self._threshold_state[rule.reading] = state
            reason = f"{rule.reading}={value:g} -> {state.value}"
            found.append(_Candidate(state, reason, rule.priority))
        for discrete in self.rules.discrete:
            if discrete.reading not in merged:
                continue
            raw = merged[discrete.reading]
            mapped = discrete.evaluate(raw)
            if mapped is not None:
                reason = f"{discrete.reading}={raw} -> {mapped.value}"
                found.append(_Candidate(mapped, reason, discrete.priority))
        return found

    def _consider(self, ts: datetime, values: Mapping[str, Value]) -> list[Transition]:
        candidates = self._candidates(values)
        if not candidates:
            return []
        best = decide(candidates)
        state, reason = best.state, best.reason
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
        event = best.event
        return [
            Transition(
                state,
                previous,
                ts,
                reason,
                decided_by,
                record=event is not None and event.record,
                source=None if event is None else event.source,
            )
        ]


def decide(candidates: Sequence[_Candidate]) -> _Candidate:
    """The combination rule (module docstring): maintenance, then fault from any rule, else the
    highest priority with an opinion and, among equals, the strongest state. Ties keep the
    first candidate (declared, event, thresholds, discrete maps)."""
    alarms = [c for c in candidates if c.state in _ALARMS]
    if alarms:
        pool = alarms
    else:
        top = max(c.priority for c in candidates)
        pool = [c for c in candidates if c.priority == top]
    best = pool[0]
    for candidate in pool[1:]:
        if STRENGTH[candidate.state] > STRENGTH[best.state]:
            best = candidate
    return best


_ALARMS = frozenset({InstrumentState.MAINTENANCE, InstrumentState.FAULT})


def _closed(event: StateEvent, now: datetime) -> Transition | None:
    """A closed record older than the current state: the interval it proves, if not empty."""
    if event.until is None:
        return None
    until = min(event.until, now)
    if until <= event.ts:
        return None
    return Transition(
        InstrumentState(event.state),
        None,
        event.ts,
        event.reason or f"record {event.state}",
        until=until,
        record=True,
        source=event.source,
    )


def _state_of(text: Any) -> InstrumentState | None:
    return InstrumentState(text) if isinstance(text, str) else None


def _time_of(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _event_json(event: StateEvent) -> dict[str, Any]:
    return {
        "ts": event.ts.isoformat(),
        "state": event.state,
        "reason": event.reason,
        "until": None if event.until is None else event.until.isoformat(),
        "record": event.record,
        "source": event.source,
    }


def _event_from(data: Any) -> StateEvent | None:
    if not isinstance(data, Mapping):
        return None
    ts, state = _time_of(data.get("ts")), _state_of(data.get("state"))
    if ts is None or state is None:
        return None
    return StateEvent(
        ts,
        state.value,
        str(data.get("reason") or ""),
        until=_time_of(data.get("until")),
        record=bool(data.get("record")),
        source=data.get("source") if isinstance(data.get("source"), str) else None,
    )


def latest_values(readings: Sequence[Reading]) -> dict[str, Value]:
    """The newest value of every reading name across several readings."""
    merged: dict[str, Value] = {}
    for reading in readings:
        if reading.ok:
            merged.update(reading.values)
    return merged
