"""Who used it, end to end (issue 13): an instrument whose Modbus meter (a real pymodbus server)
says it ran throughout, with a sign-in point, on one agent; Mosquitto; a collector. Users sign in and out with ``jishi agent
sign-in`` / ``sign-out`` (real processes); ``/api/v1/usage`` must give the service, external
service and share-rate figures computed by hand from the sign-in times the commands recorded.
A second instrument, measured from TopSpin's audit trail, gets a session per acquisition for
the user each entry names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jishi.drivers.modbus_codec import encode_value
from jishi.drivers.modbus_profiles import load_profile

from support.agentproc import AgentProcess, sim_agent_toml
from support.cli import run_jishi
from support.collectorproc import CollectorProcess
from support.paths import MODBUS_SIM
from support.samples import FIXTURES
from support.servers import Mosquitto, free_port, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SIGNIN = '\n[[instruments.sources]]\ndriver = "signin"\nname = "desk"\n'
SIMULATED = 'driver = "simulated"\nscenario = [["running", 86400.0]]'
METER = (
    'driver = "modbus"\nhost = "127.0.0.1"\nport = {port}\nprofile = "sdm120"\nonly = ["power_w"]'
)
# A second instrument measured from TopSpin's audit trail, whose entries name the user.
TOPSPIN = """
[[instruments]]
id = "nmr-600"
[instruments.source]
driver = "logs"
profile = "bruker-topspin"
path = "{path}"
"""
ACQUISITIONS = [  # tests/fixtures/bruker-topspin: (start, end) of each acquisition by nmr-user
    ("2026-02-27T01:14:05.120Z", "2026-02-27T01:40:51.007Z"),
    ("2026-02-27T02:02:30.500Z", "2026-02-27T03:17:12.994Z"),
]
STAMP = re.compile(r"\((\d{8}T\d{12})-[0-9a-f]+\.json\)")


def _signed(*args: str) -> datetime:
    """Run a sign-in command; the time it recorded (its request file is named after it)."""
    result = run_jishi("agent", *args)
    assert result.returncode == 0, result.stderr
    found = STAMP.search(result.stdout)
    assert found, result.stdout
    return datetime.strptime(found[1], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sdm120_drawing(folder: Path, power_w: float) -> Path:
    """A register image for tests/support/modbus_sim.py: an SDM120 (device 1) at ``power_w``."""
    tables: dict[str, dict[str, int]] = {"input": {}, "holding": {}}
    for spec in load_profile("sdm120").registers:
        if spec.name == "power_w":
            for offset, word in enumerate(encode_value(spec, power_w)):
                tables[spec.table][str(spec.address + offset)] = word
    path = folder / "images.json"
    path.write_text(json.dumps({"1": tables}), "utf-8")
    return path


@pytest.fixture
def meter_port(tmp_path: Path) -> Iterator[int]:
    """A real Modbus TCP server (pymodbus) with an SDM120 in the instrument's supply, drawing
    the power of a measurement throughout."""
    port = free_port()
    images = _sdm120_drawing(tmp_path, 850.0)
    server = subprocess.Popen(
        [
            sys.executable,
            str(MODBUS_SIM),
            "--images",
            str(images),
            "--devices",
            "1",
            "--tcp",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_usage_service_figures_from_sign_ins(
    tmp_path: Path, mosquitto: Mosquitto, meter_port: int
) -> None:
    collector = CollectorProcess(tmp_path / "collector", mosquitto.url).start()
    toml = sim_agent_toml(mosquitto.url, instruments={"nmr-1": [("running", 86_400.0)]})
    toml = toml.replace(SIMULATED, METER.format(port=meter_port))
    assert f"port = {meter_port}" in toml
    config = tmp_path / "agent.toml"
    shutil.copytree(FIXTURES / "bruker-topspin", tmp_path / "topspin")
    topspin = TOPSPIN.format(path=tmp_path / "topspin")
    config.write_text(
        toml.replace("[instruments.source]", "[[instruments.sources]]") + SIGNIN + topspin
    )
    data_dir = tmp_path / "agent"
    cli = ("-c", str(config), "--data-dir", str(data_dir))
    agent = AgentProcess(config, data_dir).start()
    try:
        collector.wait_for(
            "/api/v1/instruments",
            lambda rows: {r["id"]: r["state"] for r in rows}.get("nmr-1") == "running",
            20,
        )
        time.sleep(1)
        internal_in = _signed("sign-in", *cli, "zhang", "--user-type", "internal")
        time.sleep(3)
        external_in = _signed("sign-in", *cli, "li", "--user-type", "external")  # zhang ends
        time.sleep(4)
        signed_out = _signed("sign-out", *cli, "--outcome", "normal", "--samples", "5")
        time.sleep(2)
        period = f"start={_iso(internal_in - timedelta(hours=1))}&end={_iso(signed_out + timedelta(hours=1))}"
        rows = collector.wait_for(
            "/api/v1/sessions?instrument=nmr-1",
            lambda rows: len(rows) == 2 and all(r["end"] for r in rows),
            20,
        )
        logged = collector.wait_for(
            "/api/v1/sessions?instrument=nmr-600",
            lambda rows: len(rows) == 2 and all(r["end"] for r in rows),
            20,
        )
        status, usage = collector.get(f"/api/v1/usage?{period}&instrument=nmr-1")
    finally:
        agent.stop()
        collector.stop()
    assert status == 200, usage
    _assert_feedback_stored(rows)
    assert sorted((r["user"], r["start"], r["end"]) for r in logged) == [
        ("nmr-user", start, end) for start, end in ACQUISITIONS
    ]
    [row] = usage["results"]
    # The instrument ran throughout, so all session time is effective (DESIGN.md).
    service = (signed_out - internal_in).total_seconds()
    external = (signed_out - external_in).total_seconds()
    assert row["service_s"] == pytest.approx(service, abs=0.01)
    assert row["external_service_s"] == pytest.approx(external, abs=0.01)
    assert row["share_rate"] == pytest.approx(external / row["effective_s"], abs=1e-4)
    assert row["effective_s"] > service  # it ran before the first sign-in and after the last


def _assert_feedback_stored(rows: list[dict[str, Any]]) -> None:
    """Who signed in as what, the sign-out feedback and why zhang's session ended (0009)."""
    assert {(r["user"], r["user_type"]) for r in rows} == {
        ("zhang", "internal"),
        ("li", "external"),
    }
    by_user = {r["user"]: r for r in rows}
    assert (by_user["li"]["outcome"], by_user["li"]["sample_count"]) == ("normal", 5)
    assert by_user["li"]["end_reason"] is None
    assert by_user["zhang"]["end_reason"] == "replaced"
    assert by_user["zhang"]["outcome"] is None
