"""Service definitions and ``jishi agent status``.

The systemd unit is checked by running its ExecStart line for real against Mosquitto (no
systemd runs in this container). The WinSW XML cannot be run here (no Windows service
manager); it is parsed and its command line checked.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from jishi.agent.service import winsw_xml

from support.agentproc import Recorder, sim_agent_toml
from support.cli import run_jishi, start_jishi, stop
from support.servers import Mosquitto

pytestmark = pytest.mark.integration


def test_install_service_writes_a_unit_whose_command_runs(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(sim_agent_toml(mosquitto.url, instruments={"nmr-1": [("running", 3600.0)]}))
    units = tmp_path / "units"
    data = str(tmp_path / "data")
    result = run_jishi(
        "agent", "install-service", "-c", str(config), "--data-dir", data, "--unit-dir", str(units),
        "--no-enable",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    unit = (units / "jishi-agent.service").read_text()
    assert "Restart=always" in unit and "KillSignal=SIGTERM" in unit
    assert "WantedBy=multi-user.target" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    command = shlex.split(exec_start.removeprefix("ExecStart="))
    assert command[-6:] == ["agent", "run", "-c", str(config), "--data-dir", data]

    recorder = Recorder("127.0.0.1", mosquitto.port).start()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert recorder.wait_for(
            lambda: any(m["state"] == "running" for m in recorder.of_kind("state", "nmr-1")), 20
        )
        status = run_jishi("agent", "status", "--data-dir", data, check=True).stdout
        assert "running" in status and "nmr-1" in status
        process.send_signal(signal.SIGTERM)  # what systemd sends
        assert process.wait(30) == 0
        assert recorder.wait_for(
            lambda: recorder.of_kind("status", "nmr-1")[-1]["online"] is False, 10
        )
    finally:
        if process.poll() is None:
            process.kill()
        recorder.stop()
    status = run_jishi("agent", "status", "--data-dir", data, "--json", check=True).stdout
    assert '"running": false' in status
    assert '"depth": 0' in status


def test_install_service_refuses_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('site = "lab"\n')
    result = run_jishi(
        "agent", "install-service", "-c", str(config), "--unit-dir", str(tmp_path / "units"),
        "--no-enable",
    )  # fmt: skip
    assert result.returncode == 2
    assert "instruments" in result.stderr
    assert not (tmp_path / "units").exists()


def test_winsw_definition() -> None:
    # A mock of sorts: no Windows service manager exists here, so only the XML is checked.
    xml = winsw_xml(Path(r"C:\jishi\agent.toml"), Path(r"C:\ProgramData\jishi\agent"))
    root = ET.fromstring(xml)
    assert root.findtext("id") == "jishi-agent"
    assert root.findtext("startmode") == "Automatic"
    arguments = root.findtext("arguments") or ""
    assert '"agent" "run" "-c" "C:\\jishi\\agent.toml"' in arguments
    assert root.find("onfailure").get("action") == "restart"  # type: ignore[union-attr]  # the element is asserted present just before


def test_status_without_data_dir_says_what_to_do(tmp_path: Path) -> None:
    result = run_jishi("agent", "status", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 2
    assert "give --data-dir or -c agent.toml" in result.stderr


def test_mqtt5_agent(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            mosquitto.url, instruments={"ms-1": [("idle", 3600.0)]}, extra_mqtt='protocol = "5"'
        )
    )
    recorder = Recorder("127.0.0.1", mosquitto.port).start()
    process = start_jishi("agent", "run", "-c", str(config), "--data-dir", str(tmp_path / "d"))
    try:
        assert recorder.wait_for(lambda: len(recorder.of_kind("hb", "ms-1")) >= 2, 20)
        assert recorder.of_kind("state", "ms-1")[0]["state"] == "idle"
    finally:
        returncode = stop(process, timeout=40)
        recorder.stop()
    log = (tmp_path / "d" / "logs" / "agent.log").read_text()
    # 0: a clean stop; 3 would mean the shutdown watchdog fired (thread stacks are in the log).
    assert returncode == 0, log[-4000:]
