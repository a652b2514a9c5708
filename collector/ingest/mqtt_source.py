"""The collector's MQTT adapter: a persistent, acknowledged-after-commit paho-mqtt subscriber.

Persistent session (DESIGN.md "Wire protocol"): MQTT 3.1.1 ``clean_session=False``, MQTT 5
``clean_start=False`` with a session expiry, so the broker queues QoS 1 messages while the
collector is away. ``manual_ack``: PUBACK is sent only after the ledger commit, so a crash
before the commit makes the broker redeliver. Acks are tagged with the connection they came on:
a message received on an earlier connection is never acknowledged on a later one (its packet id
may name another message there); the broker redelivers it and the dedupe drops it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from jishi.agent.wire import subscription
from jishi.collector.config import CollectorMqtt
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Received
from jishi.collector.ingest.takeover import TakeoverWatch
from jishi.mqtt import MqttSettings, TlsFiles, connack_of
from jishi.mqtt_client import LoopedClient, make_client

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


def source_settings(config: CollectorMqtt, password: str | None, client_id: str) -> MqttSettings:
    """A persistent session: not clean, kept by the broker for ``session_expiry_s``.
    ``client_id`` is the resolved one (collector/client_id.py), never ``generated``."""
    url = config.url
    return MqttSettings(
        url=url,
        client_id=client_id,
        protocol=config.protocol,
        clean_session=False,
        session_expiry_s=config.session_expiry_s,
        username=config.username,
        password=password,
        tls=TlsFiles.wanted(url, config.tls_ca_file, config.tls_cert_file, config.tls_key_file),
        keepalive_s=config.keepalive_s,
    )


class MqttSource(LoopedClient):
    """The collector's MQTT subscription: persistent session, QoS 1, acknowledged after commit."""

    def __init__(
        self,
        *,
        config: CollectorMqtt,
        password: str | None,
        client_id: str,
        on_message: Callable[[Received], None],
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.on_message = on_message
        self.metrics = metrics
        self.clock = clock
        self.generation = 0
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.takeovers = TakeoverWatch()
        self._stopping = False
        self.settings = source_settings(config, password, client_id)
        # manual_ack: PUBACK only after the ledger commit (see the module docstring).
        self.client = make_client(
            self.settings,
            manual_ack=True,
            # paho's own network thread reconnects.
            reconnect_delays=(config.reconnect_min_s, config.reconnect_max_s),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.topic_filter = subscription(config.topic_root, config.share_group)

    def stop(self) -> None:
        self._stopping = True  # our own DISCONNECT is not a takeover
        super().stop()
        self.metrics.broker_connected = False

    def ack(self, items: Sequence[Received]) -> None:
        with self._lock:
            generation = self.generation
        mids = [i.mid for i in items if i.qos == 1 and i.generation == generation]
        if not mids:
            return
        # paho's public manual ack: one PUBACK per message. Writing the batch's PUBACKs as one
        # packet through paho's private queue measured within the noise of this, so the
        # public API wins (it survives paho upgrades).
        for mid in mids:
            self.client.ack(mid, 1)

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        connack = connack_of(reason)
        if not connack.accepted:
            log.warning("broker refused the connection: %s", connack.explain())
            return
        with self._lock:
            self.generation += 1
        self.metrics.broker_connected = True
        self.metrics.broker_connects += 1
        self.takeovers.connected(time.monotonic())
        log.info("connected to %s, subscribing to %s", self.config.broker, self.topic_filter)
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, *_args: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self.metrics.broker_connected = False
        self.subscribed.clear()
        if self._stopping:
            return
        why = self.takeovers.disconnected(time.monotonic(), _reason_value(reason))
        if why is not None:
            self.metrics.on_takeover(self.clock())
            # The id itself is not logged: it is the secret that keeps others out.
            log.error(
                "%s; it may be discarding the messages queued for us. Keep mqtt.client_id "
                "secret (by default a generated id in data_dir/client_id); the broker log "
                "names the intruder's address ('already connected, closing old connection')",
                why,
            )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse these; be safe, dead-letter as bad topic
            topic = repr(message._topic)
        self.on_message(
            Received(
                topic=topic,
                payload=bytes(message.payload),
                received_at=self.clock(),
                mid=message.mid,
                qos=message.qos,
                generation=self.generation,
                retain=bool(message.retain),
            )
        )


def _reason_value(reason: Any) -> int | None:
    """paho hands a ``ReasonCode`` (MQTT 5, and v2 callbacks) or a plain int."""
    if isinstance(reason, int):
        return reason
    value = getattr(reason, "value", None)
    return value if isinstance(value, int) else None
