"""Shared helpers for driver tests: run a driver, infer states, read off running intervals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from jishi.agent.inference import Rules, StateInferrer, Transition
from jishi.drivers.base import Committable, Driver, Reading


class FakeClock:
    """A monotonic clock the test advances (scan and flush intervals)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def poll_until_quiet(
    driver: Driver, clock: FakeClock, now: datetime, polls: int = 3
) -> list[Reading]:
    """Poll a few times, advancing the clock past scan and flush intervals."""
    readings: list[Reading] = []
    for index in range(polls):
        clock.now += 60
        readings.extend(driver.poll(now + timedelta(minutes=index)))
        if isinstance(driver, Committable):
            driver.commit()  # as the agent does once the readings are stored
    return readings


def transitions(readings: Iterable[Reading], rules: Rules | None = None) -> list[Transition]:
    inferrer = StateInferrer(rules or Rules())
    out: list[Transition] = []
    for reading in readings:
        out.extend(inferrer.feed(reading))
    return out


def intervals(
    changes: list[Transition], state: str = "running"
) -> list[tuple[datetime, datetime | None]]:
    """[start, end) of every interval in ``state``; end None when still open."""
    spans: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for change in changes:
        if change.state.value == state and start is None:
            start = change.since
        elif change.state.value != state and start is not None:
            spans.append((start, change.since))
            start = None
    if start is not None:
        spans.append((start, None))
    return spans


def utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
