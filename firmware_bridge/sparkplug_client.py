"""The Sparkplug B side's MQTT connection: subscribe to ``spBv1.0/#``, hand every message to
the bridge's queue, publish the host's commands (Rebirth requests).

This is not the jishi publishing path (that is the agent's outbox and links): Sparkplug
commands are QoS 0 and not retained by the specification, and a lost one is simply requested
again, so no durability is needed here. paho runs its own network thread and reconnects.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jishi.agent.config import MqttConfig
from jishi.firmware_bridge.sparkplug import NAMESPACE, Command
from jishi.mqtt import connack_of
from jishi.mqtt_client import LoopedClient, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SparkplugArrival:
    """A Sparkplug B message as it came off the broker, stamped with the bridge's clock."""

    topic: str
    payload: bytes
    received: datetime


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
    ) -> None:
        """Raises ``MqttSetupError`` (TLS files) or ``ConfigError`` (password file)."""
        self.mqtt, self.out, self.clock = mqtt, out, clock
        self.settings = mqtt.settings(client_id)
        # paho's network thread reconnects by itself, with these delays.
        self.client = make_client(
            self.settings, reconnect_delays=(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = False
        self.commands_sent = 0

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
        client.subscribe(f"{NAMESPACE}/#", qos=1)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self.connected:
            log.warning("sparkplug: disconnected from %s: %s", self.mqtt.url, reason)
        self.connected = False

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.out.put(SparkplugArrival(message.topic, bytes(message.payload), self.clock()))
