"""Helpers for collector tests: wire payload builders and a paho publisher."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from jishi.agent.wire import decode_any
from jishi.collector.usage.evidence import evidence_of, resolve
from jishi.collector.usage.timeline import Interval

ROOT = "jishi/v1"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def payload(
    kind: str,
    instrument: str,
    seq: int,
    ts: float,
    *,
    boot: str = "boot-0001",
    site: str = "lab",
    **fields: Any,
) -> bytes:
    body: dict[str, Any] = {
        "schema": fields.pop("schema", 1),
        "kind": kind,
        "instrument": instrument,
        "site": site,
        "boot_id": boot,
        "seq": seq,
        "ts": iso(ts),
        **fields,
    }
    for key in ("since", "until", "boot_at"):
        if isinstance(body.get(key), float | int):
            body[key] = iso(float(body[key]))
    return json.dumps(body).encode()


def topic(instrument: str, kind: str, site: str = "lab") -> str:
    return f"{ROOT}/{site}/{instrument}/{kind}"


def birth(
    instrument: str, seq: int, ts: float, *, boot: str = "boot-0001", hb: float = 1.0, **fields: Any
) -> tuple[str, bytes]:
    return topic(instrument, "status"), payload(
        "status", instrument, seq, ts, boot=boot, online=True, heartbeat_interval_s=hb, **fields
    )


def stated(
    kind: str,
    instrument: str,
    seq: int,
    ts: float,
    state: str,
    *,
    since: float | None = None,
    boot: str = "boot-0001",
    **fields: Any,
) -> tuple[str, bytes]:
    """A message that says ``state`` since a time (``ts`` unless given): a state or an hb."""
    when = ts if since is None else since
    body = payload(kind, instrument, seq, ts, boot=boot, state=state, since=when, **fields)
    return topic(instrument, kind), body


def hb(
    instrument: str, seq: int, ts: float, state: str, *, interval: float = 1.0, **keywords: Any
) -> tuple[str, bytes]:
    """A heartbeat every ``interval`` s; ``since`` and ``boot`` as in ``stated``."""
    return stated("hb", instrument, seq, ts, state, interval_s=interval, **keywords)


def state(instrument: str, seq: int, ts: float, new: str, **keywords: Any) -> tuple[str, bytes]:
    """A state change to ``new``; ``since`` and ``boot`` as in ``stated``."""
    return stated("state", instrument, seq, ts, new, **keywords)


def will(instrument: str, seq: int, ts: float, *, boot: str = "boot-0001") -> tuple[str, bytes]:
    return topic(instrument, "status"), payload(
        "status", instrument, seq, ts, boot=boot, online=False
    )


def expected_timeline(
    received: Iterable[tuple[bytes, float]], instrument: str, stale: float, lo: float, hi: float
) -> list[Interval]:
    """The pure engine's timeline of ``instrument`` from payloads and their receive times
    (what the ledger must show, whatever the order and batching it got them in)."""
    items = [(decode_any(payload), at) for payload, at in received]
    mine = [(m, at) for m, at in items if m.instrument == instrument]
    claims, wills, boots = evidence_of(mine, stale)
    return resolve(claims, wills, lo, hi, boots)


class Publisher:
    """A QoS 1 paho publisher with a bounded in-flight window."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.connected = threading.Event()
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise TimeoutError("publisher did not connect")

    def publish_all(
        self, messages: list[tuple[str, bytes]], retain: bool = False, window: int = 2000
    ) -> None:
        pending: list[mqtt.MQTTMessageInfo] = []
        for t, p in messages:
            pending.append(self.client.publish(t, p, qos=1, retain=retain))
            if len(pending) >= window:
                for info in pending:
                    info.wait_for_publish(30)
                pending = []
        for info in pending:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
