"""Private files (issue 17, 6): what the agent and the collector write (outbox, ledger, status,
offsets, logs) is readable by their own account only, also in a data dir made 0755 before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jishi.files import tighten

from support.cli import start_jishi, stop
from support.servers import free_port
from support.waiting import wait_until

AGENT = """site = "lab"
data_dir = "{data}"
[mqtt]
broker = "mqtt://127.0.0.1:{port}"
[[instruments]]
id = "sim-1"
source = {{ driver = "simulated", scenario = [["idle", 60]] }}
"""


def modes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.lstat().st_mode)
        for p in [folder, *folder.rglob("*")]
    }


def assert_private(folder: Path) -> None:
    found = modes(folder)
    assert found
    loose = {name: oct(mode) for name, mode in found.items() if mode & 0o077}
    assert not loose, loose


def test_tighten_takes_group_and_other_bits_off(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir(mode=0o755)
    (tmp_path / "sub" / "f").write_text("x")
    (tmp_path / "sub" / "f").chmod(0o644)
    (tmp_path / "link").symlink_to(tmp_path / "sub" / "f")
    assert tighten(tmp_path) >= 2
    assert modes(tmp_path)["sub"] == 0o700
    assert modes(tmp_path)["sub/f"] == 0o600


@pytest.mark.integration
def test_the_agent_writes_only_private_files(tmp_path: Path) -> None:
    data = tmp_path / "agent-data"
    data.mkdir(mode=0o755)
    (data / "old-status.json").write_text("{}")
    (data / "old-status.json").chmod(0o644)
    config = tmp_path / "agent.toml"
    # No broker listens there: the agent keeps everything in its outbox.
    config.write_text(AGENT.format(data=data, port=free_port()))
    os.chmod(config, 0o644)
    agent = start_jishi("agent", "run", "-c", str(config))
    try:
        # The status file is written by the running loop: everything else exists by then.
        wait_until((data / "status.json").exists, 20, "the status file")
    finally:
        assert stop(agent) == 0
    assert {"outbox.sqlite", "status.json", "logs/agent.log", "old-status.json"} <= set(modes(data))
    assert_private(data)


@pytest.mark.integration
def test_the_collector_writes_only_private_files(tmp_path: Path) -> None:
    data = tmp_path / "collector-data"
    config = tmp_path / "collector.toml"
    config.write_text(
        f'data_dir = "{data}"\n[api]\nport = {free_port()}\n'
        f'[mqtt]\nbroker = "mqtt://127.0.0.1:{free_port()}"\n'
    )
    collector = start_jishi("collector", "run", "-c", str(config))
    try:
        wait_until((data / "ledger.sqlite3").exists, 30, "the ledger")
    finally:
        stop(collector)
    assert_private(data)
