"""The paho side of jishi's MQTT connections: a client made from :class:`MqttSettings`, the
connection opened, the broker's CONNACK awaited.

:mod:`jishi.mqtt` holds the settings and what a broker's answer means (plain data, imported by
the configs and the pure cores); this module is the I/O. paho is imported inside the functions:
the agent's memory footprint matters on instrument PCs.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jishi.i18n import _
from jishi.mqtt import (
    NO_CONNACK,
    Connack,
    MqttConnectError,
    MqttError,
    MqttSettings,
    MqttSetupError,
    TlsFiles,
    connack_of,
)

if TYPE_CHECKING:
    import paho.mqtt.client as paho


def make_client(
    settings: MqttSettings,
    *,
    manual_ack: bool = False,
    reconnect_delays: tuple[float, float] | None = None,
) -> paho.Client:
    """A paho client (callback API 2) set up from ``settings``, not yet connected.

    ``reconnect_delays`` (min, max seconds) lets paho's own network thread (``loop_start``)
    reconnect; None means the caller reconnects itself. Raises :class:`MqttSetupError`."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    v5 = settings.protocol == "5"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        # MQTT 5 takes clean start at connect (see connect); paho refuses it here.
        clean_session=None if v5 else settings.clean_session,
        reconnect_on_failure=reconnect_delays is not None,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls is not None:
        _set_tls(client, settings.tls)
    if reconnect_delays is not None:
        # paho counts whole seconds; below one second it would not wait at all.
        low, high = reconnect_delays
        client.reconnect_delay_set(max(1, int(low)), max(1, int(high)))
    return client


def _set_tls(client: paho.Client, tls: TlsFiles) -> None:
    try:
        # paho's defaults: the highest TLS version, CERT_REQUIRED and the host-name check.
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        files = ", ".join(str(f) for f in (tls.ca_file, tls.cert_file, tls.key_file) if f)
        raise MqttSetupError(f"TLS setup failed ({files or 'system CAs'}): {exc}") from None
    if tls.insecure:
        client.tls_insecure_set(True)


def connect(client: paho.Client, settings: MqttSettings, *, wait: bool = True) -> None:
    """Open the connection: now (``wait``), or from paho's network thread (``loop_start``),
    which then also retries a broker that is down. Raises :class:`MqttConnectError`."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    options: dict[str, Any] = {}
    if settings.protocol == "5":
        options["clean_start"] = settings.clean_session
        if settings.session_expiry_s is not None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's Properties is unannotated
            properties.SessionExpiryInterval = settings.session_expiry_s
            options["properties"] = properties
    url = settings.url
    try:
        if wait:
            client.connect(url.host, url.port, keepalive=settings.keepalive_s, **options)
        else:
            client.connect_async(url.host, url.port, keepalive=settings.keepalive_s, **options)
    except (OSError, ValueError) as exc:  # socket, DNS, TLS handshake; ValueError: bad host
        raise MqttConnectError(url, str(exc)) from None


def await_connack(
    client: paho.Client, timeout_s: float, *, stop: Callable[[], bool] = lambda: False
) -> Connack:
    """Run the network loop of a just-connected client until the broker answers CONNECT.

    For callers that drive ``client.loop()`` themselves; ``on_connect`` is borrowed for the
    wait and given back. :data:`NO_CONNACK`-like values say that no answer came."""
    seen: list[Connack] = []
    previous = client.on_connect

    def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        seen.append(connack_of(reason))

    client.on_connect = on_connect
    try:
        deadline = time.monotonic() + timeout_s
        while not seen and time.monotonic() < deadline:
            if stop() or client.loop(timeout=0.1) != 0:
                break
    finally:
        client.on_connect = previous
    if seen:
        return seen[0]
    if time.monotonic() >= deadline:
        return Connack(False, f"no answer to CONNECT within {timeout_s:.0f} s", answered=False)
    return NO_CONNACK


def probe(settings: MqttSettings, timeout_s: float = 10.0) -> tuple[bool, str]:
    """Connect once with ``settings`` (credentials, TLS) and disconnect: whether the broker
    accepted us, and what a technician reads about it (``jishi agent check``, ``jishi
    collector check``)."""
    try:
        client = make_client(settings)
        connect(client, settings)
    except MqttConnectError as exc:
        return False, _(
            "cannot connect ({detail}); check the host and port, that the broker runs, "
            "and that a firewall allows the port"
        ).format(detail=exc.detail)
    except MqttError as exc:
        return False, str(exc)
    connack = await_connack(client, timeout_s)
    client.disconnect()
    if not connack.answered:
        return False, _("{reason} (TLS or protocol mismatch?)").format(reason=connack.reason)
    if not connack.accepted:
        hint = connack.hint or _("check mqtt.username, the password and the broker ACL")
        return False, _("refused: {reason}; {hint}").format(reason=connack.reason, hint=hint)
    return True, _("connected ({how})").format(how=settings.describe())


class LoopedClient:
    """A client run by paho's own network thread (``loop_start``), which also reconnects: the
    collector's subscription and the bridge's Sparkplug client. Subclasses set ``client`` and
    ``settings`` in their constructor."""

    client: paho.Client
    settings: MqttSettings

    def start(self) -> None:
        # Not waiting: a broker that is down at start is retried by paho's loop.
        connect(self.client, self.settings, wait=False)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
