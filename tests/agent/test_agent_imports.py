"""A running agent imports neither pydantic nor rich nor pymodbus, and pyserial only for a
serial source.

pydantic (18 MB once a model is built), rich, pymodbus (3 MB with asyncio) and the driver
libraries are most of what an agent's memory could be spent on (issue 14: RSS <= 32 MB). The import contract in
pyproject.toml checks the code; this checks a real ``jishi agent run`` process: Python's own
import log (``PYTHONPROFILEIMPORTTIME``) names every module the process imported, lazily
imported ones included, up to the moment it is stopped after its sources have been polled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from support.cli import start_jishi, stop
from support.servers import free_port
from support.waiting import poll_until

pytestmark = pytest.mark.integration

AGENT_TOML = """
site = "lab"
poll_interval_s = 0.2
[mqtt]
broker = "mqtt://127.0.0.1:{broker_port}"
reconnect_min_s = 0.2
[[instruments]]
id = "nmr-1"
[instruments.source]
driver = "simulated"
scenario = [["running", 3600]]
[[instruments.rules.threshold]]
reading = "power_w"
running_above = 300
[[instruments]]
id = "xrd-1"
[instruments.source]
driver = "logs"
path = "{log_dir}"
files = ["*.log"]
rules = [{{ pattern = 'started', state = "running" }}]
{modbus}
"""

MODBUS = """
[[instruments]]
id = "icp-ms-1"
[instruments.source]
driver = "modbus"
profile = "sdm120"
host = "127.0.0.1"
port = {port}
"""

HEAVY = {"pydantic", "pydantic_core", "annotated_types", "rich", "pymodbus", "asyncio"}
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(?P<indent>\s*)(?P<module>\S+)$")


def imported_by_agent(tmp_path: Path, *, modbus: bool) -> set[str]:
    """Every module a running agent imported (full names), read from its import log."""
    log_dir = tmp_path / "vendor-logs"
    log_dir.mkdir()
    (log_dir / "run.log").write_text("2026-03-01 08:00:00 started\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        AGENT_TOML.format(
            broker_port=free_port(),  # nothing listens: the link's retries are part of the run
            log_dir=log_dir.as_posix(),
            modbus=MODBUS.format(port=free_port()) if modbus else "",
        )
    )
    data_dir = tmp_path / "agent"
    data_dir.mkdir()
    output = tmp_path / "imports.log"
    process = start_jishi(
        "agent", "run", "-c", str(config), "--data-dir", str(data_dir),
        output=output, env={"PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    try:
        assert poll_until(lambda: every_source_polled(data_dir / "status.json"), 60, 0.2)
    finally:
        stop(process)
    modules = set()
    for line in output.read_text(encoding="utf-8", errors="replace").splitlines():
        found = IMPORT_LINE.match(line)
        if found:
            modules.add(found["module"])
    assert {"jishi.agent.runtime", "paho.mqtt.client"} <= modules  # the log is read right
    return modules


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def every_source_polled(status_file: Path) -> bool:
    """Each source has read once, or failed to (the Modbus meter that is not there)."""
    try:
        status: dict[str, Any] = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return False
    sources = [s for i in status["instruments"] for s in i["sources"].values()]
    return bool(sources) and all(s["last_good_read"] or s["read_errors"] for s in sources)


def test_a_running_agent_imports_no_pydantic_and_no_unused_driver_library(
    tmp_path: Path,
) -> None:
    modules = imported_by_agent(tmp_path, modbus=False)
    assert not top_level(modules) & HEAVY
    # Drivers are imported when a source uses them: no Modbus or serial code here.
    assert "serial" not in top_level(modules)
    assert "jishi.drivers.modbus_client" not in modules


def test_an_agent_with_a_modbus_source_speaks_modbus_without_pymodbus(tmp_path: Path) -> None:
    modules = imported_by_agent(tmp_path, modbus=True)
    assert "jishi.drivers.modbus_client" in modules
    assert not top_level(modules) & HEAVY
