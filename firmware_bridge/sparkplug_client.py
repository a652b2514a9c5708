"""The Sparkplug B side's MQTT connection: subscribe to ``spBv1.0/#``, hand every message to
the bridge's queue, publish the host's commands (Rebirth requests).

With a ``host_id`` the bridge is the Primary Host (Sparkplug 3.0, TCK assertions
``tck-id-host-topic-phid-*``): every connection registers the will ``online: false`` on
``spBv1.0/STATE/<host_id>`` (QoS 1, retained), and once the subscription is acknowledged the
birth ``online: true`` with the same timestamp. Edge nodes configured with this primary host
wait for it, and rebirth when it comes back. The subscription ``spBv1.0/#`` includes the
host's own STATE topic: if an ``online: false`` arrives there (the retained will of an
earlier, killed run) the birth is published again. A clean stop publishes the death itself,
since the broker sends no will after a DISCONNECT.

This is not the jishi publishing path (that is the agent's outbox and links): Sparkplug
commands are QoS 0 and not retained by the specification, and a lost one is simply requested
again, so no durability is needed here. paho runs its own network thread and reconnects.
"""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jishi.agent.config import MqttConfig
from jishi.firmware_bridge.sparkplug import Command
from jishi.firmware_bridge.sparkplug_wire import NAMESPACE, state_payload, state_topic
from jishi.mqtt import connack_of
from jishi.mqtt_client import LoopedClient, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SparkplugArrival:
    """A Sparkplug B message as it came off the broker, stamped with the bridge's clock."""

    topic: str
    payload: bytes
    received: datetime


@dataclass(frozen=True, slots=True)
class SparkplugConnected:
    """The Sparkplug connection was (re)established: the host may have missed births."""

    at: datetime


STATE_PUBLISH_TIMEOUT_S = 2.0


class SparkplugClient(LoopedClient):
    """The bridge's subscription to Sparkplug B edge nodes: connects, subscribes to the whole
    ``spBv1.0`` namespace, queues what arrives and publishes the host's commands (rebirths)."""

    def __init__(
        self,
        *,
        mqtt: MqttConfig,
        client_id: str,
        out: queue.Queue[Any],
        clock: Callable[[], datetime],
        host_id: str | None = None,
    ) -> None:
        """Raises ``MqttSetupError`` (TLS files) or ``ConfigError`` (password file)."""
        self.mqtt, self.out, self.clock = mqtt, out, clock
        self.host_id = host_id
        self.settings = mqtt.settings(client_id)
        # paho's network thread reconnects by itself, with these delays.
        self.client = make_client(
            self.settings, reconnect_delays=(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.connected = False
        self.commands_sent = 0
        self.state_births = 0
        self._subscribe_mid: int | None = None
        self._state_ts_ms = 0
        self._stopping = False
        if host_id is not None:
            self._register_state_will()

    def _register_state_will(self) -> None:
        """The STATE death of the next connection; its birth repeats this timestamp
        (tck-id-host-topic-phid-birth-payload-timestamp). paho sends the will it holds at each
        (re)connect, so a new one is registered after every disconnect."""
        assert self.host_id is not None
        self._state_ts_ms = int(self.clock().timestamp() * 1000)
        self.client.will_set(
            state_topic(self.host_id),
            state_payload(online=False, timestamp_ms=self._state_ts_ms),
            qos=1,
            retain=True,
        )

    def _publish_state(self, *, online: bool) -> Any:
        assert self.host_id is not None
        payload = state_payload(online=online, timestamp_ms=self._state_ts_ms)
        info = self.client.publish(state_topic(self.host_id), payload, qos=1, retain=True)
        if online:
            self.state_births += 1
            log.info("sparkplug: primary host %s online", self.host_id)
        return info

    def stop(self) -> None:
        # Our own offline comes back through the subscription: it must not be answered.
        self._stopping = True
        if self.host_id is not None and self.connected:
            # A clean DISCONNECT discards the will: say offline ourselves first.
            info = self._publish_state(online=False)
            try:
                info.wait_for_publish(STATE_PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:  # paho: not connected / queue full
                log.warning("sparkplug: cannot publish the STATE death: %s", exc)
        super().stop()

    def send(self, command: Command) -> None:
        info = self.client.publish(command.topic, command.payload, qos=0, retain=False)
        if info.rc == 0:
            self.commands_sent += 1
            log.info("sparkplug: sent %s", command.topic)
        else:
            log.warning("sparkplug: cannot send %s now (rc=%s)", command.topic, info.rc)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        connack = connack_of(reason)
        if not connack.accepted:
            log.warning(
                "sparkplug: broker %s refused the connection: %s", self.mqtt.url, connack.explain()
            )
            return
        self.connected = True
        log.info("sparkplug: connected to %s, subscribing to %s/#", self.mqtt.url, NAMESPACE)
        # One subscription that includes our own STATE topic (tck-id-host-topic-phid-birth-
        # sub-required); the STATE birth waits for its SUBACK (..-birth-required).
        _rc, self._subscribe_mid = client.subscribe(f"{NAMESPACE}/#", qos=1)
        self.out.put(SparkplugConnected(self.clock()))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if self.host_id is not None and mid == self._subscribe_mid:
            self._publish_state(online=True)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected:
            log.warning("sparkplug: disconnected from %s: %s", self.mqtt.url, reason)
        self.connected = False
        if self.host_id is not None:
            self._register_state_will()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self.host_id is not None and message.topic == state_topic(self.host_id):
            if self.connected and not self._stopping and not _says_online(message.payload):
                log.info("sparkplug: STATE says host %s offline; publishing birth", self.host_id)
                self._publish_state(online=True)
            return
        self.out.put(SparkplugArrival(message.topic, bytes(message.payload), self.clock()))


def _says_online(payload: bytes) -> bool:
    try:
        return json.loads(payload).get("online") is True
    except (ValueError, AttributeError):
        return False
