"""``jishi bridge run`` and ``jishi bridge simulate-node`` as processes, as operators run them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.bridge import free_udp_port
from support.cli import run_jishi, start_jishi
from support.servers import Mosquitto
from support.waiting import poll_until

pytestmark = pytest.mark.integration


def test_run_and_simulate_node(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_udp_port()
    config = tmp_path / "bridge.toml"
    config.write_text(
        f"""
site = "lab"
heartbeat_interval_s = 1
[mqtt]
broker = "{mosquitto.url}"
[udp]
host = "127.0.0.1"
port = {port}
[[nodes]]
node_id = 0xBEEF
instrument = "sem-01"
[[nodes.rules.threshold]]
reading = "power_w"
off_below = 5
running_above = 300
""",
        encoding="utf-8",
    )
    data_dir = tmp_path / "data"
    bridge = start_jishi(
        "bridge", "run", "-c", str(config), "--data-dir", str(data_dir), output=subprocess.PIPE
    )
    try:
        status = data_dir / "bridge-status.json"
        poll_until(status.exists, 15, 0.1)
        sim = run_jishi(
            "bridge", "simulate-node", "--node-id", "0xBEEF", "--udp", f"127.0.0.1:{port}",
            "--count", "12", "--interval", "0.05", "--scenario", "running:60",
            "--damage-every", "4",
            timeout=30,
            check=True,
        )  # fmt: skip
        assert "sent 12 frame(s) as node 0x0000BEEF" in sim.stdout
        time.sleep(2.5)  # the status file is rewritten every 2 s
        figures = json.loads(status.read_text())
    finally:
        bridge.send_signal(signal.SIGTERM)
        output, _ = bridge.communicate(timeout=20)
    assert bridge.returncode == 0, output
    # Every 4th frame spoiled in turn: bad CRC, truncated, garbage.
    assert figures["rejects"][f"udp:{port}"] == {
        "accepted": 9,
        "bad_crc": 1,
        "truncated": 1,
        "garbage": 1,
        "unknown_version": 0,
    }
    assert figures["instruments"]["sem-01"]["state"] == "running"
    # Spoiled frames 4 and 8 show as gaps; frame 12, the last, has no successor to reveal it.
    assert figures["nodes"]["0x0000BEEF"]["missed"] == 2


def test_config_error_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('site = "lab"\n[[nodes]]\nnode_id = "nope"\ninstrument = "x"\n')
    result = run_jishi("bridge", "run", "-c", str(config), timeout=30)
    assert result.returncode == 2
    assert f"{config}: nodes[0].node_id" in result.stderr
