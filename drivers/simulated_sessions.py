"""Simulated sign-ins for the simulated instrument (``jishi demo``, tests): in every cycle of
the scenario, who was signed in from when to when, and whether internal or external.

Deterministic like the scenario: session ``i`` of cycle ``k`` is ``{source}-{k}-{i}``, from
``start_s`` to ``start_s + seconds`` scenario seconds into that cycle, so a restarted agent
sends the same ids (the collector keys sessions by id) and tests can compute the truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jishi.drivers.base import DriverConfigError, SessionEvent

if TYPE_CHECKING:
    from jishi.drivers.simulated import Scenario

USER_TYPES = ("internal", "external", "staff")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One sign-in in each cycle: who, and when in scenario seconds from the cycle's start."""

    user: str
    start_s: float
    seconds: float
    user_type: str | None = None
    org: str | None = None


def parse_sessions(raw: Any, where: str, cycle_s: float) -> tuple[SessionSpec, ...]:
    """Validate ``[{ user, start_s, seconds, user_type, org }, ...]`` from config."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise DriverConfigError(f"{where}: expected a list of tables {{ user, start_s, seconds }}")
    specs = []
    for index, item in enumerate(raw):
        key = f"{where}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("user"), str):
            raise DriverConfigError(f"{key}: expected {{ user = ..., start_s, seconds }}")
        unknown = set(item) - {"user", "start_s", "seconds", "user_type", "org"}
        if unknown:
            raise DriverConfigError(f"{key}: unknown key(s) {', '.join(sorted(unknown))}")
        start, seconds = item.get("start_s", 0), item.get("seconds")
        if not isinstance(start, int | float) or not isinstance(seconds, int | float):
            raise DriverConfigError(f"{key}: start_s and seconds must be numbers")
        if start < 0 or seconds <= 0 or start + seconds > cycle_s:
            raise DriverConfigError(
                f"{key}: the session must lie inside the scenario's cycle of {cycle_s:g} s"
            )
        user_type = item.get("user_type")
        if user_type is not None and user_type not in USER_TYPES:
            raise DriverConfigError(f"{key}.user_type: use one of {', '.join(USER_TYPES)}")
        org = item.get("org")
        specs.append(SessionSpec(item["user"], float(start), float(seconds), user_type, org))
    return tuple(specs)


class SimulatedSessions:
    """Turns the specs into start and end events as the simulated time passes."""

    def __init__(self, source: str, scenario: Scenario, specs: Sequence[SessionSpec]) -> None:
        self.source = source
        self.scenario = scenario
        self.specs = tuple(specs)
        self._open: dict[str, tuple[int, int]] = {}  # session id -> (cycle, spec index)

    def _wall(self, cycle: int, scenario_s: float) -> datetime:
        offset = (cycle * self.scenario.cycle_s + scenario_s) / self.scenario.time_scale
        return datetime.fromtimestamp(self.scenario.epoch.timestamp() + offset, UTC)

    def _event(self, cycle: int, index: int, event: str) -> SessionEvent:
        spec = self.specs[index]
        at = spec.start_s if event == "start" else spec.start_s + spec.seconds
        return SessionEvent(
            ts=self._wall(cycle, at),
            event=event,
            session_id=f"{self.source}-{cycle}-{index}",
            user=spec.user,
            org=spec.org,
            user_type=spec.user_type,
        )

    def active(self, now: datetime) -> dict[str, tuple[int, int]]:
        """The sessions signed in at ``now``, by id."""
        elapsed = (now - self.scenario.epoch).total_seconds() * self.scenario.time_scale
        cycle = math.floor(elapsed / self.scenario.cycle_s)
        offset = elapsed - cycle * self.scenario.cycle_s
        return {
            f"{self.source}-{cycle}-{i}": (cycle, i)
            for i, spec in enumerate(self.specs)
            if spec.start_s <= offset < spec.start_s + spec.seconds
        }

    def poll(self, now: datetime) -> list[SessionEvent]:
        """Ends of sessions over since the last poll, then starts of new ones."""
        active = self.active(now)
        events = [
            self._event(*where, "end") for sid, where in self._open.items() if sid not in active
        ]
        events += [
            self._event(*where, "start") for sid, where in active.items() if sid not in self._open
        ]
        self._open = active
        return events
