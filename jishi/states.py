"""The instrument states (DESIGN.md, "State model") and their strength, in one place.

Every instrument is in exactly one state at every instant. Agents report the five observed
states; ``unknown`` is derived by the collector only (no fresh data) and never travels on the
wire. ``STRENGTH`` says which of two observed states is stronger when rules of equal priority
disagree (agent inference) or two reports of one poll disagree (a serial protocol): an alarm
beats a run, a run beats standby, standby beats off. Pure constants; imports nothing.
"""

from __future__ import annotations

from enum import StrEnum


class InstrumentState(StrEnum):
    """States an agent may report. ``unknown`` is derived by the collector only (DESIGN.md)."""

    OFF = "off"
    IDLE = "idle"
    RUNNING = "running"
    FAULT = "fault"
    MAINTENANCE = "maintenance"


OFF = InstrumentState.OFF.value
IDLE = InstrumentState.IDLE.value
RUNNING = InstrumentState.RUNNING.value
FAULT = InstrumentState.FAULT.value
MAINTENANCE = InstrumentState.MAINTENANCE.value
UNKNOWN = "unknown"

# What agents report, weakest first; then every state including the collector-derived one
# (the order reports and timelines list them in).
OBSERVED: tuple[str, ...] = tuple(s.value for s in InstrumentState)
STATES: tuple[str, ...] = (*OBSERVED, UNKNOWN)

STRENGTH: dict[str, int] = {state: rank for rank, state in enumerate(OBSERVED)}
