"""Sensor nodes over a socat pty pair and over UDP on loopback, through the bridge to a real
Mosquitto: states, heartbeats, rejections by kind, a reboot, and silence stopping heartbeats."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import serial
from jishi.firmware_bridge import cobs
from jishi.firmware_bridge.crc import crc16_modbus
from jishi.firmware_bridge.stream import frame_for_stream
from support.bridge import RunningBridge, Watcher, free_udp_port, report
from support.ptys import PtyPair
from support.servers import Mosquitto

pytestmark = pytest.mark.integration

THRESHOLD = {"reading": "power_w", "off_below": 5, "running_above": 300, "hysteresis": 10}
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


def test_serial_and_udp_nodes(
    mosquitto: Mosquitto,
    pty_pair: PtyPair,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    watcher = watcher_factory(mosquitto, "jishi/v1/#")
    udp_port = free_udp_port()
    running = bridge_factory(
        {
            "site": "lab",
            "heartbeat_interval_s": 0.4,
            "silence_after_s": 1.0,
            "mqtt": {"broker": mosquitto.url},
            "serial": [{"port": str(pty_pair.host), "name": "tty-a"}],
            "udp": {"host": "127.0.0.1", "port": udp_port},
            "nodes": [
                {
                    "node_id": SERIAL_NODE,
                    "instrument": "sem-01",
                    "rules": {"threshold": [THRESHOLD]},
                },
                {"node_id": UDP_NODE, "instrument": "hplc-02", "rules": {"threshold": [THRESHOLD]}},
            ],
        }
    )
    bridge = running.bridge
    assert bridge.serial_readers[0].opened.wait(5)
    line = serial.serial_for_url(str(pty_pair.device), baudrate=115_200)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        line.write(b"\x00")  # a node flushes the line after reset
        seq = 0

        def send(power_w: float, uptime_s: int, *, extra: bytes = b"") -> None:
            nonlocal seq
            line.write(extra + frame_for_stream(report(SERIAL_NODE, seq, uptime_s, power_w)))
            udp.sendto(report(UDP_NODE, seq, uptime_s, power_w), ("127.0.0.1", udp_port))
            seq += 1
            time.sleep(0.05)

        for _ in range(4):
            send(120.0, 1000 + seq)
        # One frame of every rejection kind on both transports, between good frames.
        for raw in spoiled(report(SERIAL_NODE, 99, 1000, 120.0)).values():
            line.write(cobs.encode(raw) + b"\x00")
            udp.sendto(raw, ("127.0.0.1", udp_port))
        line.write(b"\x55" * 120 + b"\x00")  # line noise longer than any frame
        for _ in range(4):
            send(850.0, 1000 + seq)
        # Both nodes reboot: uptime and seq start again.
        seq = 0
        for _ in range(4):
            send(850.0, seq)
        watcher.wait_for(
            lambda w: (
                states(w, "sem-01") == ["idle", "running"]
                and states(w, "hplc-02") == ["idle", "running"]
            ),
            what="idle then running on both instruments",
        )
        watcher.wait_for(lambda w: len(w.json("/sem-01/hb")) >= 2, what="heartbeats")

        # Silence: after silence_after_s the heartbeats stop; the node resumes them.
        time.sleep(1.2)
        silent_count = len(watcher.json("/sem-01/hb"))
        udp_silent_count = len(watcher.json("/hplc-02/hb"))
        time.sleep(1.2)
        assert len(watcher.json("/sem-01/hb")) == silent_count
        assert len(watcher.json("/hplc-02/hb")) == udp_silent_count
        send(850.0, seq + 3)
        watcher.wait_for(lambda w: len(w.json("/sem-01/hb")) > silent_count, what="resumed hb")
    finally:
        line.close()
        udp.close()

    snapshot = bridge.snapshot()
    assert snapshot["rejects"]["tty-a"] == {
        "accepted": 13,
        "bad_crc": 1,
        "truncated": 1,
        "garbage": 2,
        "unknown_version": 1,
    }
    assert snapshot["rejects"][f"udp:{udp_port}"] == {
        "accepted": 13,
        "bad_crc": 1,
        "truncated": 1,
        "garbage": 1,
        "unknown_version": 1,
    }
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
