"""A simulated instrument: a repeating scenario of ``[state, seconds]`` steps turned into power
readings that the agent's threshold rules turn back into states, and simulated sign-ins
(``sessions``: who used it when in each cycle, internal or external) as session events.

Deterministic: the reading at time ``t`` depends only on ``t - epoch``, the scenario, the time
scale and the seed, so tests can compute the truth of any instant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jishi.drivers.base import DriverConfigError, Reading, SessionEvent
from jishi.drivers.simulated_sessions import SimulatedSessions, parse_sessions

# Nominal power drawn in each state (W). Chosen to sit well inside the default threshold bands
# (off < 5 W, running >= 300 W) so that noise never crosses a boundary.
NOMINAL_POWER_W: dict[str, float] = {
    "off": 0.0,
    "idle": 120.0,
    "running": 850.0,
    "fault": 60.0,
    "maintenance": 40.0,
}
STATES = tuple(NOMINAL_POWER_W)
# Scenarios are anchored here so that every agent replays the same cycle at the same instant.
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a simulated scenario: a state held for some seconds."""

    state: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A cycle of steps; ``time_scale`` > 1 plays it faster than real time."""

    steps: tuple[Step, ...]
    time_scale: float = 1.0
    epoch: datetime = DEFAULT_EPOCH

    @property
    def cycle_s(self) -> float:
        return sum(step.seconds for step in self.steps)

    def state_at(self, now: datetime) -> tuple[str, float]:
        """State at ``now`` and scenario seconds elapsed in that step."""
        elapsed = (now - self.epoch).total_seconds() * self.time_scale
        offset = elapsed % self.cycle_s
        for step in self.steps:
            if offset < step.seconds:
                return step.state, offset
            offset -= step.seconds
        return self.steps[-1].state, self.steps[-1].seconds  # pragma: no cover - float edge

    def transitions(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        """Every (wall time, state) boundary in ``[start, end)``, the first at ``start``."""
        result = [(start, self.state_at(start)[0])]
        elapsed_start = (start - self.epoch).total_seconds() * self.time_scale
        cycle = self.cycle_s
        base = math.floor(elapsed_start / cycle) * cycle
        while True:
            offset = base
            for step in self.steps:
                offset += step.seconds
                wall = self.epoch.timestamp() + offset / self.time_scale
                moment = datetime.fromtimestamp(wall, UTC)
                if moment >= end:
                    return result
                if moment > start:
                    state = self.state_at(moment)[0]
                    if state != result[-1][1]:
                        result.append((moment, state))
            base += cycle


def parse_steps(raw: Any, where: str = "scenario") -> tuple[Step, ...]:
    """Validate ``[[state, seconds], ...]`` from config."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise DriverConfigError(f"{where}: expected a non-empty list of [state, seconds] pairs")
    steps: list[Step] = []
    for index, item in enumerate(raw):
        if (
            not isinstance(item, Sequence)
            or isinstance(item, str)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], int | float)
            or isinstance(item[1], bool)
        ):
            raise DriverConfigError(
                f'{where}[{index}]: expected [state, seconds], e.g. ["running", 600], got {item!r}'
            )
        state, seconds = item[0], float(item[1])
        if state not in NOMINAL_POWER_W:
            raise DriverConfigError(
                f"{where}[{index}]: unknown state {state!r}; use one of {', '.join(STATES)}"
            )
        if seconds <= 0:
            raise DriverConfigError(f"{where}[{index}]: seconds must be > 0, got {seconds}")
        steps.append(Step(state, seconds))
    return tuple(steps)


class SimulatedDriver:
    """Produces ``power_w`` (and ``current_a``) following a scenario."""

    def __init__(
        self,
        name: str,
        *,
        scenario: Scenario,
        noise_w: float = 0.0,
        seed: int | None = None,
        voltage_v: float = 220.0,
        sessions: SimulatedSessions | None = None,
    ) -> None:
        self.name = name
        self.scenario = scenario
        self.sessions = sessions
        self.noise_w = noise_w
        self.voltage_v = voltage_v
        self._random = random.Random(seed)

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any]) -> SimulatedDriver:
        where = f"source {name!r}"
        steps = parse_steps(options.get("scenario"), f"{where}.scenario")
        time_scale = options.get("time_scale", 1.0)
        if not isinstance(time_scale, int | float) or time_scale <= 0:
            raise DriverConfigError(f"{where}.time_scale: must be a number > 0, got {time_scale!r}")
        epoch_raw = options.get("epoch")
        epoch = DEFAULT_EPOCH
        if isinstance(epoch_raw, datetime):
            epoch = epoch_raw if epoch_raw.tzinfo else epoch_raw.replace(tzinfo=UTC)
        elif epoch_raw is not None:
            raise DriverConfigError(f"{where}.epoch: expected a TOML date-time, got {epoch_raw!r}")
        noise = options.get("noise_w", 0.0)
        if not isinstance(noise, int | float) or noise < 0:
            raise DriverConfigError(f"{where}.noise_w: must be a number >= 0, got {noise!r}")
        seed = options.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise DriverConfigError(f"{where}.seed: must be an integer, got {seed!r}")
        scenario = Scenario(steps=steps, time_scale=float(time_scale), epoch=epoch)
        specs = parse_sessions(options.get("sessions", []), f"{where}.sessions", scenario.cycle_s)
        return cls(
            name,
            scenario=scenario,
            noise_w=float(noise),
            seed=seed,
            sessions=SimulatedSessions(name, scenario, specs) if specs else None,
        )

    def poll(self, now: datetime) -> Sequence[Reading]:
        state, _ = self.scenario.state_at(now)
        power = NOMINAL_POWER_W[state]
        if self.noise_w and power > 0:
            power = max(0.0, power + self._random.uniform(-self.noise_w, self.noise_w))
        power = round(power, 1)
        current = round(power / self.voltage_v, 3)
        sessions: list[SessionEvent] = self.sessions.poll(now) if self.sessions else []
        return [
            Reading(
                ts=now,
                values={"power_w": power, "current_a": current},
                raw=f"sim state={state} power_w={power}",
                sessions=sessions,
            )
        ]

    def close(self) -> None:
        """Nothing to release."""
