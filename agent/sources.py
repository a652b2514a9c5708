"""The agent's sources in the shell: drivers built from the config, polled, told to commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from jishi.agent.config import InstrumentConfig
from jishi.drivers.base import Committable, Driver, Reading
from jishi.drivers.registry import create

log = logging.getLogger(__name__)


def build_drivers(
    instrument: InstrumentConfig, state_dir: Path | None = None, config_dir: Path | None = None
) -> list[Driver]:
    """Create the drivers of one instrument (opening nothing until the first poll).

    Drivers that keep state (log offsets) get ``state_dir`` in the agent's data dir; relative
    paths in options are resolved against ``config_dir``, the config file's folder."""
    drivers = []
    for name, source in zip(instrument.source_names(), instrument.all_sources(), strict=True):
        options = source.options
        if state_dir is not None and "state_dir" not in options:
            options = {**options, "state_dir": str(state_dir / instrument.id / name)}
        if config_dir is not None and "config_dir" not in options:
            options = {**options, "config_dir": str(config_dir)}
        drivers.append(create(source.driver, name, options))
    return drivers


def read_source(driver: Driver, now: datetime) -> list[Reading]:
    """Poll one driver once; a driver that raises gives an error reading instead."""
    try:
        return list(driver.poll(now))
    except Exception as exc:  # a driver bug must not stop the other instruments
        log.exception("source %s raised; counted as a read error", driver.name)
        return [Reading(ts=now, error=f"driver error: {exc}")]


def commit_sources(drivers: Sequence[Driver]) -> None:
    """Tell stateful drivers (log offsets) that what they returned is now durable."""
    for driver in drivers:
        if isinstance(driver, Committable):
            try:
                driver.commit()
            except Exception:  # a driver bug must not stop the others
                log.exception("source %s failed to save its position", driver.name)
