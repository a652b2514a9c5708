"""End to end: a UDP sensor node -> the bridge -> real Mosquitto -> the collector, whose API
shows the inferred states, and ``unknown`` while the node is silent."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from jishi.collector.config import CollectorConfig
from jishi.collector.service import start_collector

from support.bridge import THRESHOLD, RunningBridge, free_udp_port, report
from support.servers import Mosquitto
from support.waiting import poll_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOKEN = {"Authorization": "Bearer t0k"}
NODE = 0x77


@dataclass
class NodeSeenByCollector:
    """Node 0x77 reporting over UDP to the bridge, and the states the collector's API shows
    for its instrument (each change kept in ``seen``)."""

    http: httpx.Client
    udp_port: int
    sock: socket.socket = field(
        default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    seen: list[str] = field(default_factory=list)
    seq: int = 0

    def state(self) -> str:
        response = self.http.get("/api/v1/instruments/hplc-02", headers=TOKEN)
        if response.status_code == 404:
            return "absent"
        response.raise_for_status()
        value = str(response.json()["state"])
        if not self.seen or self.seen[-1] != value:
            self.seen.append(value)
        return value

    def wait_state(self, wanted: str, send: float | None, timeout: float = 10) -> None:
        """Until the API shows ``wanted``, the node reporting ``send`` watts (None: silent)."""

        def shown() -> bool:
            if send is not None:
                frame = report(NODE, self.seq, 500 + self.seq, send)
                self.sock.sendto(frame, ("127.0.0.1", self.udp_port))
                self.seq += 1
            return self.state() == wanted

        if not poll_until(shown, timeout, 0.1):
            raise AssertionError(f"collector never showed {wanted}; saw {self.seen}")


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
                {"node_id": NODE, "instrument": "hplc-02", "rules": {"threshold": [THRESHOLD]}}
            ],
        }
    )
    try:
        with httpx.Client(base_url=collector.api_url or "", timeout=10) as http:
            node = NodeSeenByCollector(http, udp_port)
            with node.sock:
                node.wait_state("idle", send=120.0)
                node.wait_state("running", send=850.0)
                # The node falls silent: the bridge stops heartbeats; after stale_after the
                # collector no longer knows the state.
                silent_at = time.monotonic()
                node.wait_state("unknown", send=None)
                assert time.monotonic() - silent_at >= 0.8
                body = http.get("/api/v1/instruments/hplc-02", headers=TOKEN).json()
                assert body["online"] is True  # silent, not offline: the bridge itself is alive
                # The node comes back: the first frame brings a heartbeat at once.
                node.wait_state("running", send=850.0)
    finally:
        collector.stop()
    assert node.seen[-4:] == ["idle", "running", "unknown", "running"]
