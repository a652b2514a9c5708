"""One MQTT connection per instrument, publishing that instrument's outbox.

Why one connection per instrument: MQTT allows one Last Will per connection, and DESIGN.md puts
the will on each instrument's own ``status`` topic, so the collector learns of a dead agent for
every instrument it watched. Agents watch one to a few instruments, so the cost is small.

Theory of operation: the link thread owns its paho client and does everything on it (connect,
network loop, publish), so paho is never shared between threads. Every message already sits
in the durable outbox; the link hands paho at most ``window`` un-acknowledged rows at a time
(paho's message ids wrap past 65,535 in flight) and deletes a row only on PUBACK. A lost
connection throws the paho client away with whatever it held: the rows are still in the
outbox and are sent again, flagged ``historical``, in order, on the next connection. The
collector dedupes on ``(boot_id, seq)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jishi.agent.config import MqttConfig
from jishi.agent.messages import with_historical
from jishi.agent.outbox import Outbox, OutboxFullError, OutboxRow
from jishi.backoff import backoff_delay
from jishi.errors import ConfigError
from jishi.mqtt import MqttError
from jishi.mqtt_client import await_connack, connect, make_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkTimings:
    """The link's waits, in seconds; tests shorten them instead of sleeping."""

    # A message that waited longer than this in the outbox is replayed, not live (DESIGN.md:
    # ``historical`` is true when replayed after an outage); start-up latency stays below it.
    historical_after_s: float = 5.0
    # A connection that lasted this long (or got a PUBACK) proves the broker accepts us; only
    # then does the reconnect delay start again from its minimum.
    healthy_after_s: float = 30.0
    # How long to wait for the broker's CONNACK after the TCP (and TLS) connection is open.
    connack_timeout_s: float = 10.0
    # A clean stop first sends what is queued, for this long at most ...
    drain_s: float = 5.0
    # ... then waits this long for the PUBACK of the ``online: false`` status.
    goodbye_s: float = 2.0


def is_historical(
    *,
    row_boot_id: str,
    row_created: float,
    resend: bool,
    boot_id: str,
    reconnected_at: float | None,
    now: float,
    historical_after_s: float,
) -> bool:
    """Whether an outbox row goes out as a replay (``historical: true``) rather than live.

    The one place this is decided. ``reconnected_at`` is when the current connection began
    if it is not the link's first (None on the first); ``now`` and ``row_created`` are on
    the same clock. Before the first connection only the age rule can tell an outage from
    start-up latency."""
    return (
        row_boot_id != boot_id  # observed before a restart
        or resend  # sent before and never acknowledged
        # Observed before this reconnection: during the outage, or queued behind it.
        or (reconnected_at is not None and row_created < reconnected_at)
        # Waited in the outbox: an outage before the first connection, or a long backlog.
        or now - row_created > historical_after_s
    )


def replay_payload(payload: bytes) -> bytes:
    """The stored message with ``historical: true``."""
    try:
        return with_historical(payload, True)
    except ValueError:  # also UnicodeDecodeError and json.JSONDecodeError
        # A row this agent version cannot parse (written by a much older one?): send it as
        # stored rather than block the outbox behind it; the collector judges it.
        log.warning("outbox row is not a valid message; replayed unchanged")
        return payload


@dataclass
class LinkStats:
    """What one link to the broker has done: connection, publishes, acknowledgements and the last
    error, for the status file and heartbeats."""

    connected: bool = False
    connects: int = 0
    last_connect: float | None = None
    last_publish: float | None = None
    last_ack: float | None = None
    published: int = 0
    acked: int = 0
    refusals: int = 0
    last_error: str | None = None


class Link(threading.Thread):
    """Connects, keeps connected, and drains one instrument's outbox in order.

    ``clock`` gives wall-clock seconds on the outbox's clock (its rows' ``created``)."""

    def __init__(
        self,
        *,
        instrument: str,
        client_id: str,
        mqtt: MqttConfig,
        outbox: Outbox,
        boot_id: str,
        status_topic: str,
        birth: Callable[[], bytes],
        will: Callable[[], bytes],
        offline: Callable[[], bytes],
        window: int = 100,
        seed: int | None = None,
        timings: LinkTimings = LinkTimings(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name=f"link-{instrument}", daemon=True)
        self.instrument = instrument
        self.client_id = client_id
        self.mqtt = mqtt
        self.outbox = outbox
        self.boot_id = boot_id
        self.status_topic = status_topic
        self._birth = birth
        self._will = will
        self._offline = offline
        self.window = max(1, min(window, mqtt.inflight))
        self.timings = timings
        self._clock = clock
        self.stats = LinkStats()
        self._rng = random.Random(seed)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._client: Any = None
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._acked: list[int] = []
        self._cursor = 0  # highest row id handed to the current connection
        self._max_sent_id = 0  # highest row id ever handed to paho: later sends are resends
        self._reconnected_at: float | None = None  # start of the current, non-first connection
        self._clean_stop = True
        self._last_logged: str | None = None
        self._refused = False

    # --- public --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.stats.connected

    def wake(self) -> None:
        """New rows are in the outbox: publish without waiting for the next loop tick."""
        self._wake.set()

    def request_stop(self, *, clean: bool = True) -> None:
        """Ask the link to stop without waiting. ``clean`` first sends what is queued (a few
        seconds at most), then the ``online: false`` status, so a normal shutdown does not
        look like a crash."""
        self._clean_stop = clean
        self._stopping.set()
        self._wake.set()

    def stop(self, *, clean: bool = True, timeout: float = 15.0) -> None:
        """Stop the link and wait for its thread."""
        self.request_stop(clean=clean)
        self.join(timeout)

    # --- thread --------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                healthy = self._connect() and self._serve()
            except Exception:
                # Whatever went wrong (outbox I/O, a paho surprise), the thread must live on:
                # drop the connection, back off and try again. Rows stay in the outbox.
                log.exception("%s: link error; reconnecting", self.instrument)
                self._lost("link error")
                healthy = False
            if self._stopping.is_set():
                break
            # Back off after every failed or short-lived connection: a broker that accepts
            # and then drops us (an ACL refusing publishes, a duplicate client id) must not
            # cause a reconnect storm. Only a connection that proved itself resets the delay.
            attempt = 0 if healthy else attempt + 1
            delay = backoff_delay(
                attempt,
                self.mqtt.reconnect_min_s,
                self.mqtt.reconnect_max_s,
                jitter=0.5,  # a fleet of agents must not reconnect in lockstep
                rng=self._rng,
            )
            log.debug("%s: next connection attempt in %.1f s", self.instrument, delay)
            self._stopping.wait(delay)
        try:
            self._shutdown()
        except Exception:
            log.exception("%s: error while saying goodbye to the broker", self.instrument)

    def _open(self) -> Any:
        """A connected paho client whose CONNACK is still to come. Raises ``MqttError``, or
        ``ConfigError`` when the password file cannot be read."""
        settings = self.mqtt.settings(self.client_id)
        client = make_client(settings)
        client.max_inflight_messages_set(self.window)
        # paho's own queue is never used for more than one window of our rows.
        client.max_queued_messages_set(0)
        client.will_set(self.status_topic, self._will(), qos=1, retain=True)
        try:
            connect(client, settings)
        except MqttError:
            _close_quietly(client)
            raise
        return client

    def _connect(self) -> bool:
        url = self.mqtt.url
        try:
            client = self._open()
        except (MqttError, ConfigError) as exc:
            self._note_error(str(exc))
            return False
        connack = await_connack(client, self.timings.connack_timeout_s, stop=self._stopping.is_set)
        if not connack.accepted:
            self.stats.refusals += 1
            self._note_error(f"broker {url} refused the connection: {connack.explain()}")
            _close_quietly(client)
            return False
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        self._client = client
        self._refused = False
        self._inflight.clear()
        self._cursor = 0
        now = self._clock()
        self._reconnected_at = now if self.stats.connects > 0 else None
        self.stats.connected = True
        self.stats.connects += 1
        self.stats.last_connect = now
        self.stats.last_error = None
        log.info("%s: connected to %s", self.instrument, url)
        client.publish(self.status_topic, self._birth(), qos=1, retain=True)
        return True

    def _note_error(self, message: str) -> None:
        # Log each distinct problem once at WARNING, repeats at DEBUG: a broker down for a
        # night must not fill the disk with the same line.
        if message != self._last_logged:
            log.warning("%s: %s", self.instrument, message)
        else:
            log.debug("%s: %s", self.instrument, message)
        self._last_logged = message
        self.stats.last_error = message

    def _serve(self) -> bool:
        """Publish until the connection drops or the link stops. Returns whether the
        connection was healthy: it lasted ``healthy_after_s`` or got acknowledgements."""
        client = self._client
        connected_at = time.monotonic()
        acked_before = self.stats.acked
        while not self._stopping.is_set():
            self._fill_window()
            rc = client.loop(timeout=0.05 if self._inflight else 0.2)
            self._flush_acks()
            if rc != 0 or not self.stats.connected:
                # A refused publish already said why; do not add a second warning.
                self._lost(None if self._refused else f"connection lost (paho rc={rc})")
                lasted = time.monotonic() - connected_at
                healthy = lasted >= self.timings.healthy_after_s or self.stats.acked > acked_before
                if healthy:
                    self._last_logged = None  # a new outage deserves a new warning
                return healthy
            if self._wake.is_set():
                self._wake.clear()
        if self._clean_stop:
            self._drain(client)
        return True

    def _drain(self, client: Any) -> None:
        """Stopping: send what is queued, for ``drain_s`` at most."""
        deadline = time.monotonic() + self.timings.drain_s
        while time.monotonic() < deadline and self.stats.connected:
            self._fill_window()
            if not self._inflight:
                break
            client.loop(timeout=0.05)
            self._flush_acks()

    def _fill_window(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        rows = self.outbox.pending(self.instrument, after_id=self._cursor, limit=room)
        for row in rows:
            self._publish_row(row)

    def _publish_row(self, row: OutboxRow) -> None:
        historical = is_historical(
            row_boot_id=row.boot_id,
            row_created=row.created,
            resend=row.id <= self._max_sent_id,
            boot_id=self.boot_id,
            reconnected_at=self._reconnected_at,
            now=self._clock(),
            historical_after_s=self.timings.historical_after_s,
        )
        payload = replay_payload(row.payload) if historical else row.payload
        info = self._client.publish(row.topic, payload, qos=1)
        if info.rc != 0:
            # Not queued (connection just dropped): the row stays in the outbox.
            self.stats.connected = False
            return
        self._inflight[info.mid] = row.id
        self._cursor = row.id
        self._max_sent_id = max(self._max_sent_id, row.id)
        self.stats.published += 1
        self.stats.last_publish = self._clock()

    def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            try:
                self.outbox.ack(acked)
            except OutboxFullError as exc:
                # A delete needs room in the WAL too (full disk): keep the ids and delete them
                # at the next flush. They are past the cursor, so this connection does not send
                # them again; a new one would, flagged historical, and the collector dedupes.
                self._acked = acked + self._acked
                self._note_error(str(exc))
                return
            self.stats.acked += len(acked)
            self.stats.last_ack = self._clock()

    def _lost(self, why: str | None) -> None:
        self.stats.connected = False
        if why is not None:
            self._note_error(why)
        _close_quietly(self._client)
        self._client = None
        self._inflight.clear()

    def _shutdown(self) -> None:
        client = self._client
        if client is None:
            return
        if self._clean_stop and self.stats.connected:
            info = client.publish(self.status_topic, self._offline(), qos=1, retain=True)
            deadline = time.monotonic() + self.timings.goodbye_s
            while not info.is_published() and time.monotonic() < deadline:
                client.loop(timeout=0.05)
            client.disconnect()
            client.loop(timeout=0.1)
        _close_quietly(client)
        self._client = None
        self.stats.connected = False

    # --- paho callbacks (run inside client.loop in this thread) ----------------------------

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        row_id = self._inflight.pop(mid, None)
        if row_id is None:
            return
        if getattr(reason, "is_failure", False):
            # MQTT 5 PUBACK with an error (e.g. 0x87 not authorized by the ACL): the message
            # was not accepted, keep it and slow down rather than lose it.
            self._note_error(f"broker refused a publish: {reason}; check the broker ACL")
            self._refused = True
            self.stats.connected = False
            return
        self._acked.append(row_id)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.stats.connected = False


def _close_quietly(client: Any) -> None:
    if client is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock = client.socket()
        if sock is not None:
            sock.close()
    with contextlib.suppress(OSError, AttributeError):
        client._reset_sockets()  # paho keeps a socket pair per client


# Outbox meta key of the random part of this data dir's client ids.
CLIENT_ID_SUFFIX_KEY = "client_id_suffix"
# Kept whole at the end of every id; what is before it is shortened to fit.
MAX_CLIENT_ID_CHARS = 128


def client_id_suffix(outbox: Outbox) -> str:
    """The random part of this data dir's client ids: made once (48 random bits) and kept in the
    outbox, so ids stay the same across restarts but cannot be guessed from the site,
    instrument and agent names (issue 17, item 3: a broker user connecting with an agent's id
    knocks its link off and makes the instrument look offline through the will)."""
    suffix = outbox.get_meta(CLIENT_ID_SUFFIX_KEY)
    if not suffix:
        suffix = secrets.token_hex(6)
        outbox.set_meta(CLIENT_ID_SUFFIX_KEY, suffix)
    return suffix


def default_client_id(site: str, instrument: str, agent: str, suffix: str) -> str:
    """Stable per instrument and data dir, so a reconnecting agent replaces its old session;
    ``suffix`` (:func:`client_id_suffix`) makes it unguessable. Long names are cut and hashed
    to stay within what brokers accept, the suffix always kept whole."""
    raw = f"jishi-{site}-{instrument}-{agent}"
    room = MAX_CLIENT_ID_CHARS - len(suffix) - 1
    if len(raw) > room:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        raw = raw[: room - len(digest) - 1] + "-" + digest
    return f"{raw}-{suffix}"


def hostname() -> str:
    return socket.gethostname()
