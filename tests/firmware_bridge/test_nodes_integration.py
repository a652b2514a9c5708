"""Sensor nodes over a socat pty pair and over UDP on loopback, through the bridge to a real
Mosquitto: states, heartbeats, rejections by kind, a reboot, and silence stopping heartbeats."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import serial

from jishi.firmware_bridge import cobs
from jishi.firmware_bridge.crc import crc16_modbus
from jishi.firmware_bridge.stream import frame_for_stream

from support.bridge import THRESHOLD, RunningBridge, Watcher, free_udp_port, report
from support.ptys import PtyPair
from support.servers import Mosquitto

pytestmark = pytest.mark.integration

SERIAL_NODE, UDP_NODE = 0x11, 0x22


def spoiled(good: bytes) -> dict[str, bytes]:
    """One frame of each rejection kind (raw, before any framing)."""
    bad_crc = bytearray(good)
    bad_crc[14] ^= 0x04
    newer = b"\x02" + good[1:-2]
    return {
        "bad_crc": bytes(bad_crc),
        "truncated": good[:17],
        "garbage": b"\x7e\x7e this is a modem talking \x7e",
        "unknown_version": newer + crc16_modbus(newer).to_bytes(2, "little"),
    }


def states(watcher: Watcher, instrument: str) -> list[str]:
    return [m["state"] for m in watcher.json(f"/{instrument}/state")]


def bridge_config(broker: Mosquitto, serial_port: str, udp_port: int) -> dict[str, Any]:
    node = {"rules": {"threshold": [THRESHOLD]}}
    return {
        "site": "lab",
        "heartbeat_interval_s": 0.4,
        "silence_after_s": 1.0,
        "mqtt": {"broker": broker.url},
        "serial": [{"port": serial_port, "name": "tty-a"}],
        "udp": {"host": "127.0.0.1", "port": udp_port},
        "nodes": [
            {"node_id": SERIAL_NODE, "instrument": "sem-01", **node},
            {"node_id": UDP_NODE, "instrument": "hplc-02", **node},
        ],
    }


@dataclass
class TwoNodes:
    """Node 0x11 on the serial line and node 0x22 over UDP, sending the same reports."""

    line: serial.Serial
    udp_port: int
    udp: socket.socket = field(
        default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    seq: int = 0

    def send(self, power_w: float, uptime_s: int) -> None:
        self.line.write(frame_for_stream(report(SERIAL_NODE, self.seq, uptime_s, power_w)))
        self.udp.sendto(report(UDP_NODE, self.seq, uptime_s, power_w), ("127.0.0.1", self.udp_port))
        self.seq += 1
        time.sleep(0.05)

    def send_every_rejection_kind(self) -> None:
        """One frame of every rejection kind on both transports, then line noise longer than
        any frame on the serial line."""
        for raw in spoiled(report(SERIAL_NODE, 99, 1000, 120.0)).values():
            self.line.write(cobs.encode(raw) + b"\x00")
            self.udp.sendto(raw, ("127.0.0.1", self.udp_port))
        self.line.write(b"\x55" * 120 + b"\x00")

    def close(self) -> None:
        self.line.close()
        self.udp.close()


def heartbeats(watcher: Watcher) -> tuple[int, int]:
    return len(watcher.json("/sem-01/hb")), len(watcher.json("/hplc-02/hb"))


def test_serial_and_udp_nodes(
    mosquitto: Mosquitto,
    pty_pair: PtyPair,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    watcher = watcher_factory(mosquitto, "jishi/v1/#")
    udp_port = free_udp_port()
    running = bridge_factory(bridge_config(mosquitto, str(pty_pair.host), udp_port))
    bridge = running.bridge
    assert bridge.serial_readers[0].opened.wait(5)
    nodes = TwoNodes(serial.serial_for_url(str(pty_pair.device), baudrate=115_200), udp_port)
    try:
        nodes.line.write(b"\x00")  # a node flushes the line after reset
        for _ in range(4):
            nodes.send(120.0, 1000 + nodes.seq)
        nodes.send_every_rejection_kind()  # between good frames
        for _ in range(4):
            nodes.send(850.0, 1000 + nodes.seq)
        # Both nodes reboot: uptime and seq start again.
        nodes.seq = 0
        for _ in range(4):
            nodes.send(850.0, nodes.seq)
        watcher.wait_for(
            lambda w: states(w, "sem-01") == states(w, "hplc-02") == ["idle", "running"],
            what="idle then running on both instruments",
        )
        watcher.wait_for(lambda w: len(w.json("/sem-01/hb")) >= 2, what="heartbeats")

        # Silence: after silence_after_s the heartbeats stop; the node resumes them.
        time.sleep(1.2)
        silent = heartbeats(watcher)
        time.sleep(1.2)
        assert heartbeats(watcher) == silent
        nodes.send(850.0, nodes.seq + 3)
        watcher.wait_for(lambda w: heartbeats(w)[0] > silent[0], what="resumed hb")
    finally:
        nodes.close()

    snapshot = bridge.snapshot()
    rejects = {"bad_crc": 1, "truncated": 1, "unknown_version": 1, "accepted": 13}
    # The serial line also saw the noise, as one more garbage frame.
    assert snapshot["rejects"]["tty-a"] == {**rejects, "garbage": 2}
    assert snapshot["rejects"][f"udp:{udp_port}"] == {**rejects, "garbage": 1}
    for node in ("0x00000011", "0x00000022"):
        assert snapshot["nodes"][node]["reboots"] == 1
        assert snapshot["nodes"][node]["missed"] == 0
    # The birth is retained and announces the heartbeat interval (stale_after = 2.5 x it).
    status = watcher.json("/sem-01/status")[0]
    assert (status["online"], status["heartbeat_interval_s"]) == (True, 0.4)
    hb = watcher.json("/sem-01/hb")[-1]
    assert hb["state"] == "running"
    assert hb["readings"]["voltage_v"] == 230.0
    assert hb["health"]["sources"]["node-0x00000011"]["read_errors"] == 0
    running.stop()
    # A clean stop says goodbye on every instrument's status topic.
    watcher.wait_for(lambda w: w.json("/sem-01/status")[-1]["online"] is False, what="online false")
