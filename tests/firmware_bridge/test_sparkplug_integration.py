"""A simulated Sparkplug B edge node publishing through a real Mosquitto to the bridge:
births, data, a sequence gap answered by a Rebirth NCMD, death by MQTT will."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from jishi.firmware_bridge.sparkplug import REBIRTH_METRIC
from jishi.firmware_bridge.sparkplug_client import SparkplugClient
from jishi.firmware_bridge.sparkplug_edge import EdgeNode
from jishi.firmware_bridge.sparkplug_pb import Payload

from support.bridge import RunningBridge, Watcher, sparkplug_meter
from support.servers import Mosquitto
from support.waiting import poll_until, wait_until

pytestmark = pytest.mark.integration


class EdgeClient:
    """An edge node's MQTT side: NDEATH as the will, births on request, commands received."""

    def __init__(self, broker: Mosquitto, edge: EdgeNode) -> None:
        self.edge = edge
        self.commands: list[Payload] = []
        self.rebirth_requested = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="edge-gw1")
        will_topic, will_payload = edge.death()
        self.client.will_set(will_topic, will_payload, qos=1, retain=False)
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe(edge.topic("NCMD"), qos=1)
        assert ready.wait(5)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        payload = Payload.FromString(message.payload)
        self.commands.append(payload)
        if any(m.name == REBIRTH_METRIC and m.boolean_value for m in payload.metrics):
            self.rebirth_requested.set()

    def publish(self, message: tuple[str, bytes]) -> None:
        self.client.publish(message[0], message[1], qos=0).wait_for_publish(5)

    def crash(self) -> None:
        """Drop the TCP connection without DISCONNECT, so the broker sends the will."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None
        sock.close()


def now() -> datetime:
    return datetime.now(UTC)


def test_edge_node_births_data_gap_rebirth_death(
    mosquitto: Mosquitto,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    watcher = watcher_factory(mosquitto, "jishi/v1/#")
    running = bridge_factory(
        {
            "site": "lab",
            "heartbeat_interval_s": 0.4,
            "mqtt": {"broker": mosquitto.url},
            "sparkplug": {
                "rebirth_min_interval_s": 1,
                "instruments": [sparkplug_meter("Power/Active")],
            },
        }
    )
    bridge = running.bridge
    sparkplug = bridge.sparkplug
    assert sparkplug is not None
    poll_until(lambda: sparkplug.connected, 5)
    time.sleep(0.2)  # the bridge's SUBACK
    edge = EdgeNode("Lab", "gw1", bd_seq=0)
    client = EdgeClient(mosquitto, edge)

    def states() -> list[str]:
        return [m["state"] for m in watcher.json("/icp-ms-01/state")]

    client.publish(edge.birth({"Node/Uptime": 10}, now()))
    client.publish(edge.device_birth("meter3", {"Power/Active": 120.0, "Freq": 50.0}, now()))
    watcher.wait_for(lambda w: states() == ["idle"], what="idle from DBIRTH")
    assert watcher.json("/icp-ms-01/status")[-1]["online"] is True
    client.publish(edge.data({"Power/Active": 900.0}, now(), device="meter3"))
    watcher.wait_for(lambda w: states() == ["idle", "running"], what="running from DDATA")

    # A lost message: the host drops the next one and asks for a rebirth on NCMD.
    edge.skip()
    client.publish(edge.data({"Power/Active": 2.0}, now(), device="meter3"))
    assert client.rebirth_requested.wait(5)
    assert states() == ["idle", "running"]  # the out-of-sequence data was not used
    client.publish(edge.birth({"Node/Uptime": 11}, now()))
    client.publish(edge.device_birth("meter3", {"Power/Active": 1.0, "Freq": 50.0}, now()))
    watcher.wait_for(lambda w: states() == ["idle", "running", "off"], what="off after rebirth")
    watcher.wait_for(lambda w: len(w.json("/icp-ms-01/hb")) >= 2, what="heartbeats")

    # The edge node dies: the broker publishes its NDEATH will; the instrument goes offline
    # and its heartbeats stop.
    client.crash()
    watcher.wait_for(
        lambda w: w.json("/icp-ms-01/status")[-1]["online"] is False, what="online false"
    )
    time.sleep(0.3)
    count = len(watcher.json("/icp-ms-01/hb"))
    time.sleep(1.0)
    assert len(watcher.json("/icp-ms-01/hb")) == count
    snapshot = bridge.snapshot()
    assert snapshot["sparkplug"]["commands_sent"] == 1
    assert snapshot["instruments"]["icp-ms-01"]["alive"] is False


def test_a_node_whose_will_has_a_stale_bdseq_goes_silent(
    mosquitto: Mosquitto,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    """Issue 17 item 7: a peer library registers its will with the previous session's bdSeq.
    The NDEATH is rightly ignored; the silence limit stops the instrument's heartbeats."""
    watcher = watcher_factory(mosquitto, "jishi/v1/#")
    running = bridge_factory(
        {
            "site": "lab",
            "heartbeat_interval_s": 0.3,
            "mqtt": {"broker": mosquitto.url},
            "sparkplug": {"silence_after_s": 1.5, "instruments": [sparkplug_meter("Power")]},
        }
    )
    bridge = running.bridge
    sparkplug = bridge.sparkplug
    assert sparkplug is not None
    poll_until(lambda: sparkplug.connected, 5)
    time.sleep(0.2)  # the bridge's SUBACK
    edge = EdgeNode("Lab", "gw1", bd_seq=4)
    client = EdgeClient(mosquitto, edge)  # will: NDEATH with bdSeq 4
    edge.next_session()  # ... but the births say bdSeq 5
    client.publish(edge.birth({"Node/Uptime": 1}, now()))
    client.publish(edge.device_birth("meter3", {"Power": 900.0}, now()))
    watcher.wait_for(lambda w: len(w.json("/icp-ms-01/hb")) >= 2, what="heartbeats")
    # Data within the limit keeps it fresh.
    time.sleep(1.0)
    client.publish(edge.data({"Power": 910.0}, now(), device="meter3"))
    time.sleep(1.0)
    assert bridge.snapshot()["instruments"]["icp-ms-01"]["alive"] is True

    client.crash()  # the broker publishes the stale NDEATH, which is ignored
    time.sleep(2.0)  # past silence_after_s
    snapshot = bridge.snapshot()
    assert snapshot["instruments"]["icp-ms-01"]["alive"] is False
    count = len(watcher.json("/icp-ms-01/hb"))
    time.sleep(1.0)
    assert len(watcher.json("/icp-ms-01/hb")) == count  # heartbeats stopped: unknown
    assert watcher.json("/icp-ms-01/status")[-1]["online"] is True  # no death was seen


def _primary_host(
    mosquitto: Mosquitto, bridge_factory: Callable[[dict[str, Any]], RunningBridge]
) -> tuple[RunningBridge, SparkplugClient]:
    """A bridge acting as Primary Host ``jishi-host``, its STATE birth published."""
    running = bridge_factory(
        {
            "site": "lab",
            "mqtt": {"broker": mosquitto.url},
            "sparkplug": {"host_id": "jishi-host", "instruments": [sparkplug_meter("Power")]},
        }
    )
    sparkplug = running.bridge.sparkplug
    assert sparkplug is not None
    wait_until(lambda: sparkplug.state_births == 1, 5, "the STATE birth")
    return running, sparkplug


def test_primary_host_state_birth_retained_and_death_by_will(
    mosquitto: Mosquitto,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    _, sparkplug = _primary_host(mosquitto, bridge_factory)
    # A subscriber arriving later gets the birth as the retained message (QoS 1, retained).
    late = watcher_factory(mosquitto, "spBv1.0/STATE/#")
    late.wait_for(lambda w: len(w.messages) == 1, what="retained STATE")
    topic, payload, retained = late.messages[0]
    assert (topic, retained) == ("spBv1.0/STATE/jishi-host", True)
    birth = json.loads(payload)
    assert birth["online"] is True
    assert abs(birth["timestamp"] - time.time() * 1000) < 10_000

    # The bridge dies without DISCONNECT: the broker publishes its will, retained.
    sparkplug.client.loop_stop()
    sock = sparkplug.client.socket()
    assert sock is not None
    sock.close()
    late.wait_for(lambda w: len(w.messages) == 2, what="STATE will")
    death = json.loads(late.messages[1][1])
    assert death == {"online": False, "timestamp": birth["timestamp"]}
    after = watcher_factory(mosquitto, "spBv1.0/STATE/#")
    after.wait_for(lambda w: len(w.messages) == 1, what="retained STATE death")
    assert json.loads(after.messages[0][1])["online"] is False
    assert after.messages[0][2] is True


def test_primary_host_clean_stop_publishes_state_death(
    mosquitto: Mosquitto,
    bridge_factory: Callable[[dict[str, Any]], RunningBridge],
    watcher_factory: Callable[..., Watcher],
) -> None:
    """A DISCONNECT discards the will, so a clean stop must say offline itself."""
    running, _ = _primary_host(mosquitto, bridge_factory)
    watcher = watcher_factory(mosquitto, "spBv1.0/STATE/#")
    watcher.wait_for(lambda w: len(w.messages) == 1, what="retained STATE")
    running.stop()
    watcher.wait_for(lambda w: len(w.messages) >= 2, what="STATE death at stop")
    time.sleep(0.5)  # the bridge must not answer its own death with a new birth
    assert [json.loads(m[1])["online"] for m in watcher.messages] == [True, False]
