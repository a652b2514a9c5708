"""Fixtures of the bridge tests: a socat pty pair, a running bridge, an MQTT watcher."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from jishi.firmware_bridge.config import BridgeConfig
from jishi.firmware_bridge.service import Bridge
from paho.mqtt.enums import CallbackAPIVersion
from support.servers import Mosquitto, require_binary

from jishi.config import validate


@dataclass
class PtyPair:
    bridge_end: str
    node_end: str


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    """Two connected pseudo-terminals, as a USB-serial cable between a node and the bridge."""
    a, b = tmp_path / "ttyBRIDGE", tmp_path / "ttyNODE"
    process = subprocess.Popen(
        [
            require_binary("socat"),
            f"pty,raw,echo=0,link={a}",
            f"pty,raw,echo=0,link={b}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()):
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create the pty pair")
            time.sleep(0.02)
        yield PtyPair(str(a), str(b))
    finally:
        process.terminate()
        process.wait(5)


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; saw {self.topics_seen()}")


@pytest.fixture
def watcher_factory() -> Iterator[Callable[..., Watcher]]:
    watchers: list[Watcher] = []

    def make(broker: Mosquitto, *topics: str) -> Watcher:
        watcher = Watcher(broker.port, topics).start()
        watchers.append(watcher)
        return watcher

    yield make
    for watcher in watchers:
        watcher.stop()


@dataclass
class RunningBridge:
    bridge: Bridge
    thread: threading.Thread

    def stop(self) -> None:
        self.bridge.stop()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def bridge_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], RunningBridge]]:
    running: list[RunningBridge] = []

    def start(data: dict[str, Any]) -> RunningBridge:
        config = validate("bridge.toml", BridgeConfig, data)
        bridge = Bridge(config, config_hash="test", data_dir=tmp_path / f"bridge{len(running)}")
        thread = threading.Thread(target=bridge.run, name="bridge-main", daemon=True)
        thread.start()
        assert bridge.started.wait(10)
        item = RunningBridge(bridge, thread)
        running.append(item)
        return item

    yield start
    for item in running:
        with contextlib.suppress(AssertionError):
            item.stop()
