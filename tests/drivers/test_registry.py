"""Every registered driver and every shipped profile builds (and opens nothing doing so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jishi.drivers.base import DriverConfigError
from jishi.drivers.modbus_profiles import load_profile, profile_names
from jishi.drivers.options import load_profile_tables
from jishi.drivers.registry import create, kinds
from jishi.drivers.serial_protocol import load_serial_profile

MINIMAL: dict[str, dict[str, Any]] = {
    "simulated": {"scenario": [["idle", 10]]},
    "modbus": {"host": "127.0.0.1", "port": 1, "profile": "sdm120"},
    "serial": {"port": "/dev/ttyUSB-none", "profile": "mt-sics"},
    "logs": {"path": "/nonexistent", "profile": "minknow"},
    "process": {"names": ["TopSpin.exe"]},
    "signin": {"card_port": "/dev/ttyUSB-none", "card_pattern": r"(?P<card>\d+)"},
    "os-logins": {"utmp_file": "/nonexistent/utmp", "ignore": ["svc"]},
}


def test_every_driver_builds_without_opening_anything() -> None:
    assert set(MINIMAL) <= set(kinds())
    for kind in kinds():
        create(kind, f"x-{kind}", MINIMAL[kind]).close()


@pytest.mark.parametrize("name", profile_names())
def test_every_modbus_profile(name: str) -> None:
    if name == "generic":
        with pytest.raises(DriverConfigError, match="no registers"):
            load_profile(name)
        return
    profile = load_profile(name)
    assert profile.registers
    assert any(s.name == "power_w" for s in profile.registers)


@pytest.mark.parametrize("name", sorted(load_profile_tables("serial.toml", None, "t")))
def test_every_serial_profile(name: str) -> None:
    command = "READ?" if name == "regex" else None
    extra = [{"pattern": r"(?P<v>\d+)"}] if name == "regex" else []
    options: dict[str, object] = {"port": "/dev/none", "profile": name}
    if command:
        options.update(command=command, patterns=extra)
    create("serial", "s", options).close()
    assert load_serial_profile(
        name, user_file=None, command=command, extra_patterns=extra, where="t"
    )


@pytest.mark.parametrize(
    "name", sorted(set(load_profile_tables("logs.toml", None, "t")) - {"generic"})
)
def test_every_log_profile(name: str) -> None:
    create(
        "logs", "l", {"path": "/nonexistent", "profile": name, "timezone": "Asia/Shanghai"}
    ).close()


def test_user_profile_file_extends_the_shipped_ones(tmp_path: Path) -> None:
    user = tmp_path / "profiles.toml"
    user.write_text(
        '[my-meter]\nextends = "sdm120"\nregisters = [{ name = "power_w", address = 0x0034 }]\n'
        '[acrel]\nfunction = "holding"\n'
        'registers = [{ name = "power_w", address = "40101", type = "int32", scale = 0.1 }]\n',
        encoding="utf-8",
    )
    mine = load_profile("my-meter", user_file=user)
    assert {s.name: s.address for s in mine.registers}["power_w"] == 0x34
    assert len(mine.registers) == len(load_profile("sdm120").registers)
    acrel = load_profile("acrel", user_file=user)
    assert (acrel.registers[0].table, acrel.registers[0].address) == ("holding", 100)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("modbus", {"host": "h", "profile": "nope"}, "unknown Modbus profile"),
        ("modbus", {"profile": "sdm120"}, "needs host"),
        ("modbus", {"host": "h", "profile": "sdm120", "timeout": 1}, "timeout: unknown option"),
        ("modbus", {"host": "h", "profile": "sdm120", "only": ["watts"]}, "watts"),
        ("serial", {"port": "p", "profile": "regex"}, "command"),
        ("logs", {"path": "/x", "profile": "minknow", "timezone": "Mars/Base"}, "IANA"),
        ("logs", {"path": "/x", "files": ["*.log"]}, "no rule"),
        (
            "logs",
            {"path": "/x", "files": ["*.log"], "rules": [{"pattern": "(", "state": "idle"}]},
            "regex",
        ),
        ("process", {}, "names"),
    ],
)
def test_config_errors_name_the_key(kind: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        create(kind, "bad", options)
