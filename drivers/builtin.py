"""The built-in drivers. Each factory imports its module only when called, so an agent that
uses only the simulator never imports pyserial or its Modbus client (agent RSS, see
docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jishi.drivers.base import Driver


def _simulated(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.simulated import SimulatedDriver

    return SimulatedDriver.from_options(name, options)


def _modbus(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.modbus import ModbusDriver

    return ModbusDriver.from_options(name, options)


def _serial(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.serial_port import SerialDriver

    return SerialDriver.from_options(name, options)


def _logs(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.logs import LogDriver

    return LogDriver.from_options(name, options)


def _process(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.process import ProcessDriver

    return ProcessDriver.from_options(name, options)


def _signin(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.signin import SignInDriver

    return SignInDriver.from_options(name, options)


def _os_logins(name: str, options: Mapping[str, Any]) -> Driver:
    from jishi.drivers.os_logins import OsLoginDriver

    return OsLoginDriver.from_options(name, options)


def register_all(
    register: Callable[[str, Callable[[str, Mapping[str, Any]], Driver]], None],
) -> None:
    register("simulated", _simulated)
    register("modbus", _modbus)
    register("serial", _serial)
    register("logs", _logs)
    register("process", _process)
    register("signin", _signin)
    register("os-logins", _os_logins)
