"""MQTT settings and what a broker's answer means: one typed description of every connection.

Theory of operation. Every MQTT connection of jishi (the agent's links, ``jishi agent check``,
the collector's subscriber, the bridge's Sparkplug client) is described by one frozen
:class:`MqttSettings` and made by :mod:`jishi.mqtt_client`, so protocol choice, clean session /
session expiry, credentials and TLS are handled the same way everywhere. paho's failures are
translated into this module's types (STYLE.md 5): a client that cannot be set up raises
:class:`MqttSetupError`, a connection that cannot be opened :class:`MqttConnectError`, and the
broker's CONNACK becomes a :class:`Connack` value with a hint a technician can act on.

This module is plain data (no paho, no pydantic): the configs and the pure cores import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from jishi.errors import JishiError

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


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerUrl:
    """A broker address: ``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS)."""

    scheme: Literal["mqtt", "mqtts"]
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """``mqtt://host[:port]`` or ``mqtts://host[:port]`` (TLS, default port 8883)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if "@" in parts.netloc:
            # Never echo it: the part before '@' may be a password.
            raise ValueError(
                "the broker URL must not carry a user or password (user:password@host); "
                "set mqtt.username and mqtt.password_file or mqtt.password_env instead"
            )
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


def check_broker_url(value: str) -> str:
    """Validator shared by every config with a broker URL (agent, collector, bridge)."""
    BrokerUrl.parse(value)
    return value


def check_topic_root(value: str) -> str:
    """Validator shared by every config with a topic root."""
    if not value or any(c in value for c in "+#") or value.startswith("/"):
        raise ValueError("topic_root must be a plain topic prefix such as 'jishi/v1'")
    return value.rstrip("/")


def check_broker_pairs(
    cert_file: Path | None,
    key_file: Path | None,
    password_file: Path | None,
    password_env: str | None,
) -> None:
    """The ``[mqtt]`` keys that go together (agent, bridge, collector); raises ValueError."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("tls_cert_file and tls_key_file must be given together")
    if password_file and password_env:
        raise ValueError("give password_file or password_env, not both")


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
