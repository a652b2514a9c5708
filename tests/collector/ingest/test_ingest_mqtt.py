"""Ingest through a real Mosquitto: API state, persistent session, last will, MQTT 5."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from jishi.collector.service import Collector, start_collector

from support import messages as h
from support.ledger import make_config
from support.servers import Mosquitto
from support.waiting import wait_until

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer t0k"}


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    wait_until(predicate, timeout, "the collector to store what was published")


def instrument(collector: Collector, name: str) -> dict[str, object]:
    response = httpx.get(f"{collector.api_url}/api/v1/instruments/{name}", headers=ADMIN)
    return response.json() if response.status_code == 200 else {}


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_state_reaches_the_api_and_messages_queued_while_down_are_delivered(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    config = make_config(tmp_path, mqtt={"broker": mosquitto.url, "protocol": protocol})
    collector = start_collector(config, admin_token="t0k")
    publisher = h.Publisher(mosquitto.port)
    try:
        wait_for(lambda: collector.source is not None and collector.source.subscribed.is_set())
        now = time.time()
        publisher.publish_all([h.birth("nmr", 0, now, hb=5.0), h.state("nmr", 1, now, "running")])
        wait_for(lambda: instrument(collector, "nmr").get("state") == "running")
        collector.stop()
        publisher.publish_all([h.state("nmr", 2, now + 0.5, "idle")])
        collector = start_collector(config, admin_token="t0k")
        wait_for(lambda: instrument(collector, "nmr").get("state") == "idle")
        # The API reads the ledger, which has the batch before the metrics count it.
        wait_for(lambda: collector.metrics.stored > 0)
        assert collector.metrics.stored == 1
    finally:
        publisher.close()
        collector.stop()


def test_last_will_makes_the_instrument_offline_and_unknown(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    collector = start_collector(
        make_config(tmp_path, mqtt={"broker": mosquitto.url}), admin_token="t0k"
    )
    agent = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-xrd")
    will_topic, will_payload = h.will("xrd", 3, time.time())
    agent.will_set(will_topic, will_payload, qos=1, retain=True)
    agent.connect("127.0.0.1", mosquitto.port, keepalive=5)
    agent.loop_start()
    try:
        wait_for(lambda: collector.source is not None and collector.source.subscribed.is_set())
        now = time.time()
        for t, p in (h.birth("xrd", 1, now, hb=30.0), h.hb("xrd", 2, now, "running")):
            agent.publish(t, p, qos=1, retain=t.endswith("status")).wait_for_publish(5)
        wait_for(lambda: instrument(collector, "xrd").get("state") == "running")
        agent.loop_stop()
        sock = agent.socket()
        assert sock is not None
        sock.close()  # dies without DISCONNECT: the broker sends the will
        wait_for(lambda: instrument(collector, "xrd").get("online") is False, timeout=15)
        assert instrument(collector, "xrd")["state"] == "unknown"
    finally:
        collector.stop()
