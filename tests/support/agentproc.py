"""Run real agent processes for tests and read back what they logged and published."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from support.cli import kill, start_jishi, stop
from support.waiting import poll_until

TRANSITION_RE = re.compile(
    r"jishi\.agent\.runtime: (?P<inst>\S+): (?P<prev>\S+) -> (?P<state>\S+) at (?P<since>\S+) \("
)


def sim_agent_toml(
    broker: str,
    *,
    instruments: dict[str, list[tuple[str, float]]],
    heartbeat_s: float = 1.0,
    poll_s: float = 0.2,
    site: str = "lab",
    extra_mqtt: str = "",
    outbox: str = "",
) -> str:
    """An agent.toml with one simulated instrument per scenario."""
    parts = [
        f'site = "{site}"',
        f"heartbeat_interval_s = {heartbeat_s}",
        f"poll_interval_s = {poll_s}",
        "[mqtt]",
        f'broker = "{broker}"',
        "reconnect_min_s = 0.2",
        "reconnect_max_s = 2",
        extra_mqtt,
    ]
    if outbox:
        parts += ["[outbox]", outbox]
    for name, steps in instruments.items():
        scenario = ", ".join(f'["{s}", {d}]' for s, d in steps)
        parts += [
            "[[instruments]]",
            f'id = "{name}"',
            "[instruments.source]",
            'driver = "simulated"',
            f"scenario = [{scenario}]",
            "[[instruments.rules.threshold]]",
            'reading = "power_w"',
            "off_below = 5",
            "running_above = 300",
            "[[instruments.rules.discrete]]",
            'reading = "power_w"',
            'states = { "60" = "fault", "40" = "maintenance" }',
        ]
    return "\n".join(parts) + "\n"


@dataclass
class AgentProcess:
    config: Path
    data_dir: Path
    broker: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        args = ["agent", "run", "-c", str(self.config), "--data-dir", str(self.data_dir)]
        if self.broker:
            args += ["--broker", self.broker]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = start_jishi(*args, output=self.data_dir / "stdout.log")
        return self

    def kill(self) -> None:
        assert self.process is not None
        kill(self.process)

    def stop(self) -> int:
        return 0 if self.process is None else stop(self.process)

    def transitions(self) -> list[tuple[str, str, str]]:
        """(instrument, state, since) of every transition the agent logged, in log order."""
        log = self.data_dir / "logs" / "agent.log"
        found = []
        for path in sorted(log.parent.glob("agent.log*"), reverse=True):
            for line in path.read_text(encoding="utf-8").splitlines():
                match = TRANSITION_RE.search(line)
                if match:
                    found.append((match["inst"], match["state"], match["since"]))
        return found


@contextlib.contextmanager
def agent_process(
    config: Path, data_dir: Path, broker: str | None = None
) -> Iterator[AgentProcess]:
    agent = AgentProcess(config=config, data_dir=data_dir, broker=broker).start()
    try:
        yield agent
    finally:
        agent.stop()


@dataclass
class Recorder:
    """A persistent-session subscriber that records every message it receives."""

    host: str
    port: int
    topic: str = "jishi/v1/#"
    client_id: str = "jishi-test-recorder"
    username: str | None = None
    password: str | None = None
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: Any = None
    connected: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Recorder:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False
        )

        def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
            if not reason.is_failure:
                c.subscribe(self.topic, qos=1)
                self.connected.set()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            with self._lock:
                self.messages.append((msg.topic, json.loads(msg.payload)))

        client.on_connect = on_connect
        client.on_message = on_message
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.reconnect_delay_set(0.2, 1)
        client.connect(self.host, self.port)
        client.loop_start()
        self._client = client
        if not self.connected.wait(10):
            raise TimeoutError("recorder did not connect")
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()

    def of_kind(self, kind: str, instrument: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                m
                for topic, m in self.messages
                if topic.endswith("/" + kind)
                and (instrument is None or m.get("instrument") == instrument)
            ]

    def wait_for(self, predicate: Any, timeout: float, interval: float = 0.2) -> bool:
        return poll_until(predicate, timeout, interval)


def dedupe(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the first of each (boot_id, seq), as the collector does."""
    seen: set[tuple[str, int]] = set()
    unique = []
    for message in messages:
        key = (message["boot_id"], message["seq"])
        if key not in seen:
            seen.add(key)
            unique.append(message)
    return unique
