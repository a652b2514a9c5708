"""The Sparkplug B side's MQTT connection: subscribe to ``spBv1.0/#``, hand every message to
the bridge's queue, publish the host's commands (Rebirth requests).

This is not the jishi publishing path (that is the agent's outbox and links): Sparkplug
commands are QoS 0 and not retained by the specification, and a lost one is simply requested
again, so no durability is needed here. paho runs its own network thread and reconnects.
"""

from __future__ import annotations

import logging
import queue
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jishi.agent.config import MqttConfig
from jishi.firmware_bridge.sparkplug import NAMESPACE, Command

from jishi.errors import JishiError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SparkplugArrival:
    topic: str
    payload: bytes
    received: datetime


class SparkplugConnectError(JishiError):
    """The Sparkplug broker cannot be used (bad URL, TLS files)."""


class SparkplugClient:
    def __init__(
        self,
        *,
        mqtt: MqttConfig,
        client_id: str,
        out: queue.Queue[Any],
        clock: Callable[[], datetime],
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.mqtt, self.out, self.clock = mqtt, out, clock
        protocol = paho.MQTTv5 if mqtt.protocol == "5" else paho.MQTTv311
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        if mqtt.username is not None:
            self.client.username_pw_set(mqtt.username, mqtt.password())
        if mqtt.uses_tls:
            try:
                self.client.tls_set(
                    ca_certs=str(mqtt.tls_ca_file) if mqtt.tls_ca_file else None,
                    certfile=str(mqtt.tls_cert_file) if mqtt.tls_cert_file else None,
                    keyfile=str(mqtt.tls_key_file) if mqtt.tls_key_file else None,
                )
            except (OSError, ssl.SSLError) as exc:
                raise SparkplugConnectError(f"sparkplug TLS setup failed: {exc}") from None
            self.client.tls_insecure_set(mqtt.tls_insecure)
        self.client.reconnect_delay_set(int(mqtt.reconnect_min_s) or 1, int(mqtt.reconnect_max_s))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = False
        self.commands_sent = 0

    def start(self) -> None:
        url = self.mqtt.url
        # connect_async: a broker that is down at start is retried by paho's loop.
        self.client.connect_async(url.host, url.port, keepalive=self.mqtt.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def send(self, command: Command) -> None:
        info = self.client.publish(command.topic, command.payload, qos=0, retain=False)
        if info.rc == 0:
            self.commands_sent += 1
            log.info("sparkplug: sent %s", command.topic)
        else:
            log.warning("sparkplug: cannot send %s now (rc=%s)", command.topic, info.rc)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("sparkplug: broker %s refused the connection: %s", self.mqtt.url, reason)
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
