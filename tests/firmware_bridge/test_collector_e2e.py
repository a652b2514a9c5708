"""End to end: a UDP sensor node -> the bridge -> real Mosquitto -> the collector, whose API
shows the inferred states, and ``unknown`` while the node is silent."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from jishi.collector.config import CollectorConfig
from jishi.collector.service import start_collector
from support.bridge import RunningBridge, free_udp_port, report
from support.servers import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

THRESHOLD = {"reading": "power_w", "off_below": 5, "running_above": 300, "hysteresis": 10}
TOKEN = {"Authorization": "Bearer t0k"}


def test_node_states_and_silence_reach_the_collector(
    mosquitto: Mosquitto,
    tmp_path: Path,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
) -> None:
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "collector"),
            "mqtt": {"broker": mosquitto.url, "client_id": "collector-bridge-e2e"},
            "api": {"host": "127.0.0.1", "port": 0},
        }
    )
    collector = start_collector(config, admin_token="t0k")
    udp_port = free_udp_port()
    bridge_factory(
        {
            "site": "lab",
            "heartbeat_interval_s": 0.4,  # the collector's stale_after is 2.5 x this: 1 s
            "silence_after_s": 0.8,
            "mqtt": {"broker": mosquitto.url},
            "udp": {"host": "127.0.0.1", "port": udp_port},
            "nodes": [
                {"node_id": 0x77, "instrument": "hplc-02", "rules": {"threshold": [THRESHOLD]}}
            ],
        }
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seen: list[str] = []
    seq = 0

    def state(http: httpx.Client) -> str:
        response = http.get("/api/v1/instruments/hplc-02", headers=TOKEN)
        if response.status_code == 404:
            return "absent"
        response.raise_for_status()
        value = str(response.json()["state"])
        if not seen or seen[-1] != value:
            seen.append(value)
        return value

    def wait_state(http: httpx.Client, wanted: str, send: float | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if send is not None:
                nonlocal seq
                sock.sendto(report(0x77, seq, 500 + seq, send), ("127.0.0.1", udp_port))
                seq += 1
            if state(http) == wanted:
                return
            time.sleep(0.1)
        raise AssertionError(f"collector never showed {wanted}; saw {seen}")

    try:
        with httpx.Client(base_url=collector.api_url or "", timeout=10) as http:
            wait_state(http, "idle", send=120.0, timeout=10)
            wait_state(http, "running", send=850.0, timeout=10)
            # The node falls silent: the bridge stops heartbeats; after stale_after the
            # collector no longer knows the state.
            silent_at = time.monotonic()
            wait_state(http, "unknown", send=None, timeout=10)
            assert time.monotonic() - silent_at >= 0.8
            body = http.get("/api/v1/instruments/hplc-02", headers=TOKEN).json()
            assert body["online"] is True  # silent, not offline: the bridge itself is alive
            # The node comes back: the first frame brings a heartbeat at once.
            wait_state(http, "running", send=850.0, timeout=10)
    finally:
        sock.close()
        collector.stop()
    assert seen[-4:] == ["idle", "running", "unknown", "running"]
