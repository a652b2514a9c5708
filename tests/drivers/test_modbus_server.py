"""Modbus drivers against a real pymodbus server: TCP, RTU-over-TCP and RTU over a socat pty.

Three meters (SDM120, PZEM-004T, DDS238) whose register images change during the test, plus
a dead device on the same bus; the inferred states follow the meters, and the dead device
neither blocks nor spoils the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jishi.agent.inference import Rules, StateInferrer, ThresholdRule
from jishi.agent.sources import load_agent_config
from jishi.drivers.base import Driver
from jishi.drivers.modbus_codec import encode_value
from jishi.drivers.modbus_profiles import load_profile
from jishi.drivers.registry import create

from support.paths import EXAMPLES, MODBUS_SIM
from support.ptys import PtyPair
from support.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration
EXAMPLE = EXAMPLES / "agent-sdm120-tcp.toml"
METERS = {1: "sdm120", 2: "pzem-004t", 3: "dds238"}
DEAD = 9
RULES = Rules(thresholds=(ThresholdRule("power_w", off_below=5, running_above=300),))


def image(powers: dict[int, float]) -> dict[str, Any]:
    """Register images of the meters drawing ``powers`` W at 230 V."""
    out: dict[str, Any] = {}
    for device, profile_name in METERS.items():
        profile = load_profile(profile_name)
        values = {"power_w": powers[device], "voltage_v": 230.0, "frequency_hz": 50.0}
        tables: dict[str, dict[str, int]] = {"input": {}, "holding": {}}
        for spec in profile.registers:
            if spec.name in values:
                for offset, word in enumerate(encode_value(spec, values[spec.name])):
                    tables[spec.table][str(spec.address + offset)] = word
        out[str(device)] = tables
    return out


class Sim:
    def __init__(self, folder: Path, args: list[str]) -> None:
        self.images = folder / "images.json"
        self.set({1: 0.0, 2: 0.0, 3: 0.0})
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(MODBUS_SIM),
                "--images",
                str(self.images),
                "--devices",
                "1",
                "2",
                "3",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def set(self, powers: dict[int, float]) -> None:
        temp = self.images.with_suffix(".tmp")
        temp.write_text(json.dumps(image(powers)), encoding="utf-8")
        os.replace(temp, self.images)
        time.sleep(0.01)  # distinct mtime_ns for the server's change check

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


@pytest.fixture
def tcp_sim(tmp_path: Path) -> Iterator[tuple[Sim, int]]:
    port = free_port()
    sim = Sim(tmp_path, ["--tcp", str(port)])
    wait_for_port(port)
    yield sim, port
    sim.stop()


def drivers_for(base: dict[str, Any]) -> dict[int, Driver]:
    opts = {"timeout_s": 0.3, "retries": 0, "dead_after": 2, "dead_backoff_s": 3600}
    made: dict[int, Driver] = {}
    for device, profile in {**METERS, DEAD: "sdm120"}.items():
        made[device] = create("modbus", f"meter{device}", {**base, **opts, "device_id": device,
                                                            "profile": profile})  # fmt: skip
    return made


def follow_phases(sim: Sim, drivers: dict[int, Driver]) -> None:
    inferrers = {device: StateInferrer(RULES) for device in METERS}
    phases = [
        ({1: 850.0, 2: 0.0, 3: 120.0}, {1: "running", 2: "off", 3: "idle"}),
        ({1: 0.0, 2: 1200.0, 3: 1016.0}, {1: "off", 2: "running", 3: "running"}),
        ({1: 40.0, 2: 24.4, 3: 0.0}, {1: "idle", 2: "idle", 3: "off"}),
    ]
    dead_errors = 0
    for powers, expected in phases:
        sim.set(powers)
        started = time.monotonic()
        for device, driver in drivers.items():
            (reading,) = driver.poll(datetime.now(UTC))
            if device == DEAD:
                assert not reading.ok
                dead_errors += 1
                continue
            assert reading.ok, reading.error
            assert reading.values["power_w"] == pytest.approx(powers[device], abs=0.11)
            assert reading.raw
            assert reading.raw.startswith(f"dev {device} ")
            inferrers[device].feed(reading)
        # The dead device costs at most one timeout per round, then is skipped while backing off.
        assert time.monotonic() - started < 2.0
        assert {d: inf.state.value for d, inf in inferrers.items() if inf.state} == expected
    assert dead_errors == 3
    for driver in drivers.values():
        driver.close()


def test_tcp_three_meters_and_a_dead_one(tcp_sim: tuple[Sim, int]) -> None:
    sim, port = tcp_sim
    follow_phases(sim, drivers_for({"host": "127.0.0.1", "port": port}))


def test_rtu_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    sim = Sim(tmp_path, ["--tcp", str(port), "--rtu-over-tcp"])
    try:
        wait_for_port(port)
        base = {"host": "127.0.0.1", "port": port, "transport": "rtu-over-tcp"}
        follow_phases(sim, drivers_for(base))
    finally:
        sim.stop()


def test_rtu_on_a_serial_bus(tmp_path: Path) -> None:
    pair = PtyPair(tmp_path).start()
    sim = Sim(tmp_path, ["--serial", str(pair.device)])
    try:
        time.sleep(1.0)  # the server opens its end of the pty
        base = {"serial_port": str(pair.host), "baudrate": 19200}
        follow_phases(sim, drivers_for(base))
    finally:
        sim.stop()
        pair.stop()


def test_server_down_is_an_error_reading_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    driver = create("modbus", "m", {"host": "127.0.0.1", "port": port, "profile": "sdm120",
                                    "timeout_s": 0.3, "retries": 0})  # fmt: skip
    (down,) = driver.poll(datetime.now(UTC))
    assert not down.ok
    assert "cannot connect" in (down.error or "")
    sim = Sim(tmp_path, ["--tcp", str(port)])
    try:
        wait_for_port(port)
        sim.set({1: 850.0, 2: 0.0, 3: 0.0})
        (up,) = driver.poll(datetime.now(UTC))
        assert up.ok
        assert up.values["power_w"] == 850.0
    finally:
        sim.stop()
        driver.close()


def test_example_sdm120_config_reads_running_and_off(tmp_path: Path) -> None:
    config, _ = load_agent_config(EXAMPLE)
    (instrument,) = config.instruments
    source = instrument.all_sources()[0]
    assert source.options["port"] == 5020
    assert source.options["device_id"] == 1
    port = free_port()  # 5020 may be taken on a shared machine; everything else as in the file
    sim = Sim(tmp_path, ["--tcp", str(port)])
    try:
        wait_for_port(port)
        driver = create(source.driver, "meter", {**source.options, "port": port})
        inferrer = StateInferrer(instrument.rules.to_rules())
        for power, state in ((850.0, "running"), (0.0, "off")):
            sim.set({1: power, 2: 0.0, 3: 0.0})
            (reading,) = driver.poll(datetime.now(UTC))
            inferrer.feed(reading)
            assert reading.values["power_w"] == power
            assert inferrer.state is not None
            assert inferrer.state.value == state
        driver.close()
    finally:
        sim.stop()
