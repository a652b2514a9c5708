"""One typed way to set up a paho MQTT client, and what a broker's answer means.

Theory of operation. Every MQTT connection of jishi (the agent's links, ``jishi agent check``,
the collector's subscriber, the bridge's Sparkplug client) is described by one frozen
:class:`MqttSettings` and made by :func:`make_client` and :func:`connect`, so protocol choice,
clean session / session expiry, credentials and TLS are handled the same way everywhere.
paho's failures are translated here (STYLE.md 5): a client that cannot be set up raises
:class:`MqttSetupError`, a connection that cannot be opened :class:`MqttConnectError`, and the
broker's CONNACK becomes a :class:`Connack` value with a hint a technician can act on.

paho is imported inside the functions only: the agent's memory footprint matters on
instrument PCs, and importing this module must stay cheap.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from jishi.errors import JishiError

if TYPE_CHECKING:
    import paho.mqtt.client as paho

Protocol = Literal["3.1.1", "5"]

# CONNACK reasons worth a sentence a technician can act on (MQTT 3.1.1 s3.2.2.3, MQTT 5
# s3.2.2.2). The keys are substrings of paho's reason names.
REFUSAL_HINTS = {
    "Bad user name or password": "check mqtt.username and the password file / variable",
    # Mosquitto 2 answers a wrong password with "Not authorized" too.
    "Not authorized": "check mqtt.username, the password file / variable and the broker ACL",
    "Client identifier not valid": "the broker rejected the client id",
    "Server unavailable": "the broker is up but not accepting connections",
    "Unsupported protocol version": "set mqtt.protocol to the version the broker speaks",
}


class BrokerUrl(BaseModel):
    """A broker address: ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["mqtt", "mqtts"]
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS, default port 8883)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
            raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
        scheme: Literal["mqtt", "mqtts"] = "mqtts" if parts.scheme in {"mqtts", "ssl"} else "mqtt"
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host; e.g. mqtt://127.0.0.1:1883")
        try:
            port = parts.port or (8883 if scheme == "mqtts" else 1883)
        except ValueError:
            raise ValueError(f"broker URL {url!r} has an invalid port") from None
        return cls(scheme=scheme, host=parts.hostname, port=port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """TLS towards the broker: the CA that signed its certificate (None: the system's CAs),
    an optional client certificate and key, and whether to skip the host-name check."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False

    @classmethod
    def wanted(
        cls,
        url: BrokerUrl,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        insecure: bool = False,
    ) -> TlsFiles | None:
        """TLS for an ``mqtts://`` URL or whenever a CA file is given; None for plain TCP."""
        if url.scheme != "mqtts" and ca_file is None:
            return None
        return cls(ca_file, cert_file, key_file, insecure)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Everything needed to open one MQTT connection.

    ``clean_session`` is MQTT 3.1.1's clean session and MQTT 5's clean start; with MQTT 5 a
    persistent session also needs ``session_expiry_s`` (the broker keeps the session, and
    queues QoS 1 messages, that long after a disconnect)."""

    url: BrokerUrl
    client_id: str
    protocol: Protocol = "3.1.1"
    clean_session: bool = True
    session_expiry_s: int | None = None
    username: str | None = None
    password: str | None = None
    tls: TlsFiles | None = None
    keepalive_s: int = 30

    def describe(self) -> str:
        """``3.1.1, TLS``: what a technician needs to see of a working connection."""
        return f"{self.protocol}, {'TLS' if self.tls else 'no TLS'}"


class MqttError(JishiError):
    """An MQTT connection could not be set up or opened."""


class MqttSetupError(MqttError):
    """The settings cannot be used (a TLS file unreadable, a key that does not match)."""


class MqttConnectError(MqttError):
    """No connection: the host does not answer, refuses TCP, or the TLS handshake failed."""

    def __init__(self, url: BrokerUrl, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"cannot connect to {url}: {detail}")


@dataclass(frozen=True, slots=True)
class Connack:
    """The broker's answer to CONNECT. ``answered`` is false when none came (the connection
    dropped first, or the wait ran out); ``reason`` is the broker's reason or why none came."""

    accepted: bool
    reason: str
    answered: bool = True

    @property
    def hint(self) -> str | None:
        return next((hint for key, hint in REFUSAL_HINTS.items() if key in self.reason), None)

    def explain(self) -> str:
        """The reason with its hint, for a log line or ``jishi agent check``."""
        hint = self.hint
        return self.reason + (f"; {hint}" if hint else "")


NO_CONNACK = Connack(accepted=False, reason="no CONNACK (connection dropped)", answered=False)


def connack_of(reason: Any) -> Connack:
    """Translate the reason code paho passes to ``on_connect`` (callback API 2)."""
    return Connack(accepted=not bool(getattr(reason, "is_failure", False)), reason=str(reason))


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
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
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
