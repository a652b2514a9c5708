"""The bridge seen from outside: an MQTT watcher, a bridge run on a thread, node frames."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from jishi.firmware_bridge.frame import Frame, encode
from jishi.firmware_bridge.service import Bridge

from support.waiting import poll_until

# The power threshold every bridge test's instruments use (a 230 V instrument: off, idle, running).
THRESHOLD = {"reading": "power_w", "off_below": 5, "running_above": 300, "hysteresis": 10}


def sparkplug_meter(power_metric: str) -> dict[str, Any]:
    """The config of instrument icp-ms-01 read from device meter3 of edge node Lab/gw1, its
    power in the Sparkplug metric ``power_metric``."""
    return {
        "instrument": "icp-ms-01",
        "group": "Lab",
        "edge_node": "gw1",
        "device": "meter3",
        "metrics": {"power_w": power_metric},
        "rules": {"threshold": [THRESHOLD]},
    }


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report(node_id: int, seq: int, uptime_s: int, power_w: float) -> bytes:
    """A sensor node's report frame at ``power_w`` on 230 V mains."""
    return encode(
        Frame(
            node_id=node_id,
            seq=seq,
            uptime_s=uptime_s,
            current_ma=round(power_w / 0.23),
            power_dw=round(power_w * 10),
            voltage_cv=23000,
        )
    )


@dataclass
class Watcher:
    """Subscribes to topics on a broker and keeps every message received, in order."""

    url_port: int
    topics: tuple[str, ...]
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Any = None

    def start(self) -> Watcher:
        ready = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{time.time_ns()}")

        def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
            for topic in self.topics:
                c.subscribe(topic, qos=1)
            ready.set()

        def on_message(c: Any, u: Any, message: Any) -> None:
            with self.lock:
                self.messages.append((message.topic, bytes(message.payload), message.retain))

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect("127.0.0.1", self.url_port)
        client.loop_start()
        assert ready.wait(5)
        time.sleep(0.1)  # let the SUBACK land before the test publishes
        self.client = client
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def json(self, suffix: str) -> list[dict[str, Any]]:
        with self.lock:
            found = [m for m in self.messages if m[0].endswith(suffix)]
        return [json.loads(payload) for _, payload, _ in found]

    def topics_seen(self) -> list[str]:
        with self.lock:
            return [m[0] for m in self.messages]

    def wait_for(
        self, predicate: Callable[[Watcher], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        if not poll_until(lambda: predicate(self), timeout):
            raise AssertionError(
                f"timed out waiting for {what or predicate}; saw {self.topics_seen()}"
            )


@dataclass
class RunningBridge:
    bridge: Bridge
    thread: threading.Thread

    def stop(self) -> None:
        self.bridge.stop()
        self.thread.join(20)
        assert not self.thread.is_alive()
