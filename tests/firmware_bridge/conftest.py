"""Fixtures of the bridge tests: a socat pty pair, a running bridge, an MQTT watcher."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jishi.config import validate_table
from jishi.firmware_bridge.config import BridgeConfig
from jishi.firmware_bridge.service import Bridge

from support.bridge import RunningBridge, Watcher
from support.ptys import PtyPair
from support.servers import Mosquitto


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    """Two connected pseudo-terminals, as a USB-serial cable between a node and the bridge:
    the node writes to ``device``, the bridge reads ``host``."""
    pair = PtyPair(tmp_path).start()
    yield pair
    pair.stop()


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


@pytest.fixture
def bridge_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], RunningBridge]]:
    running: list[RunningBridge] = []

    def start(data: dict[str, Any]) -> RunningBridge:
        config = validate_table("bridge.toml", BridgeConfig, data)
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
