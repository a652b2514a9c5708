"""The agent's sources in the shell: the config loaded with every source's driver options
checked, drivers built from it, polled, told to commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from jishi import config as config_io
from jishi.agent.config import AgentConfig, InstrumentConfig
from jishi.drivers.base import Committable, Driver, DriverConfigError, Reading
from jishi.drivers.registry import create, kinds
from jishi.errors import ConfigError

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


def source_key(instrument: InstrumentConfig, index: int, s_index: int) -> str:
    """Config key of one source, as a technician sees it in the file."""
    if instrument.source is not None:
        return f"instruments[{index}].source"
    return f"instruments[{index}].sources[{s_index}]"


def load_agent_config(path: Path) -> tuple[AgentConfig, str]:
    """Parse and validate ``agent.toml``, including every source's driver options.

    Drivers are built (which opens nothing: ports and files are opened on the first poll) and
    closed again, so an option error is reported at start with its file and key.
    """
    config, digest = config_io.load_table(path, AgentConfig)

    known = set(kinds())
    for index, instrument in enumerate(config.instruments):
        for s_index, source in enumerate(instrument.all_sources()):
            key = source_key(instrument, index, s_index)
            if source.driver not in known:
                raise ConfigError(
                    str(path),
                    f"{key}.driver",
                    f"unknown driver {source.driver!r}",
                    f"use one of {', '.join(sorted(known))}",
                )
            try:
                options = {"config_dir": str(path.resolve().parent), **source.options}
                create(source.driver, instrument.source_names()[s_index], options).close()
            except DriverConfigError as exc:
                raise ConfigError(str(path), key, str(exc)) from None
    return config, digest
