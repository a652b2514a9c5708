"""Modbus device profiles: register maps read from TOML data (shipped and user files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jishi.drivers.base import DriverConfigError
from jishi.drivers.modbus_codec import RegisterSpec, spec_from_table
from jishi.drivers.options import load_profile_tables, merge_named

PROFILE_FILE = "modbus.toml"
# Keys of a profile table that are not register defaults.
_PROFILE_KEYS = {"description", "registers", "baudrate", "max_gap", "address_base", "extends"}


@dataclass(frozen=True, slots=True)
class ModbusProfile:
    """A meter's register map by name (SDM120, PZEM-004T, ...), as data."""

    name: str
    description: str
    registers: tuple[RegisterSpec, ...]
    baudrate: int | None = None
    max_gap: int = 0


def profile_names(user_file: Path | None = None) -> list[str]:
    return sorted(load_profile_tables(PROFILE_FILE, user_file, "modbus profiles"))


def load_profile(
    name: str,
    *,
    user_file: Path | None = None,
    extra_registers: Sequence[Mapping[str, Any]] = (),
    only: Sequence[str] = (),
    address_base: int | None = None,
    where: str = "modbus",
) -> ModbusProfile:
    """Resolve ``name`` (with ``extends``), add the source's own registers (same name
    replaces), keep only ``only`` if given, and build register specs."""
    tables = load_profile_tables(PROFILE_FILE, user_file, where)
    if name not in tables:
        raise DriverConfigError(
            f"{where}: profile: unknown Modbus profile {name!r}; available: "
            f"{', '.join(sorted(tables))}"
        )
    table = tables[name]
    defaults = {k: v for k, v in table.items() if k not in _PROFILE_KEYS}
    base = address_base if address_base is not None else int(table.get("address_base", 0))
    if base not in (0, 1):
        raise DriverConfigError(f"{where}: address_base must be 0 or 1")
    raw_registers = table.get("registers", [])
    if not isinstance(raw_registers, list):
        raise DriverConfigError(f"{where}: profile {name!r}: registers must be a list")
    # The profile's own registers use the profile's base; the source's use the source's.
    specs: dict[str, RegisterSpec] = {}
    profile_base = int(table.get("address_base", 0))
    for item in raw_registers:
        spec = spec_from_table(item, defaults, profile_base, f"{where}: profile {name!r} register")
        specs[spec.name] = spec
    for item in merge_named([], list(extra_registers)):
        spec = spec_from_table(item, defaults, base, f"{where}: registers")
        specs[spec.name] = spec
    if only:
        missing = [n for n in only if n not in specs]
        if missing:
            raise DriverConfigError(
                f"{where}: only: {', '.join(missing)} not in profile {name!r} "
                f"(has {', '.join(sorted(specs))})"
            )
        specs = {n: specs[n] for n in only}
    if not specs:
        raise DriverConfigError(f"{where}: no registers to read; give profile or registers")
    baudrate = table.get("baudrate")
    return ModbusProfile(
        name=name,
        description=str(table.get("description", "")),
        registers=tuple(specs.values()),
        baudrate=baudrate if isinstance(baudrate, int) else None,
        max_gap=int(table.get("max_gap", 0)),
    )
