"""``jishi bridge run``: the I/O shell around :class:`BridgeCore`.

Theory of operation. Reader threads (serial ports, UDP, the Sparkplug MQTT client) put
arrivals on one queue; the main loop is the only caller of the core. What the core emits goes
into the agent's durable outbox (SQLite, fsync'd) under one lock together with the seq it was
given, so outbox order is seq order, and the agent's :class:`Link` threads (one MQTT
connection per instrument, each with its own Last Will on that instrument's status topic)
publish it, replaying after outages exactly as the agent does.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from jishi.agent.core import OutboxFigures
from jishi.agent.link import (
    Link,
    LinkTimings,
    client_id_suffix,
    default_client_id,
    hostname,
)
from jishi.agent.messages import MessageKind, build_topic, encode
from jishi.agent.outbox import Outbox
from jishi.errors import JishiError
from jishi.firmware_bridge.config import BridgeConfig
from jishi.firmware_bridge.core import BridgeCore, Outgoing
from jishi.firmware_bridge.sparkplug_client import (
    SparkplugArrival,
    SparkplugClient,
    SparkplugConnected,
)
from jishi.firmware_bridge.transports import FrameArrival, SerialReader, UdpReader

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"
STATUS_FILE = "bridge-status.json"
TICK_S = 0.2


class BridgeStartError(JishiError):
    """A listener cannot start (UDP port in use, ...)."""


class Bridge:
    """Runs the bridge until :meth:`stop`. ``clock`` is injectable for tests."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        config_hash: str,
        data_dir: Path,
        broker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config = config.with_broker(broker)
        self.clock = clock
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(data_dir / OUTBOX_FILE, max_bytes=config.outbox.max_bytes)
        self.name = config.bridge_id or f"bridge-{hostname()}"
        self.core = BridgeCore(
            config,
            boot_at=clock(),
            config_hash=config_hash,
            hostname=hostname(),
            figures=self._figures,
        )
        self.lock = threading.Lock()
        self.arrivals: queue.Queue[Any] = queue.Queue()
        self.links: dict[str, Link] = {}
        self.serial_readers: list[SerialReader] = []
        self.udp: UdpReader | None = None
        self.sparkplug: SparkplugClient | None = None
        self._stopping = threading.Event()
        self.started = threading.Event()

    # --- wiring ------------------------------------------------------------------------------

    def _figures(self, instrument: str) -> OutboxFigures:
        stats = self.outbox.stats(instrument)
        # time.time(): the clock the outbox stamps its rows' ``created`` with.
        return OutboxFigures.at(
            depth=stats.depth,
            oldest_created=stats.oldest_created,
            dropped=stats.dropped,
            now=time.time(),
        )

    def _status_payload(self, instrument: str, *, online: bool | None = None) -> bytes:
        with self.lock:
            return encode(self.core.status(instrument, self.clock(), online=online))

    def _start_links(self) -> None:
        suffix = client_id_suffix(self.outbox)
        for inst in self.core.instruments.values():
            topic = build_topic(inst.site, inst.id, MessageKind.STATUS, self.config.mqtt.topic_root)
            instrument = inst.id
            link = Link(
                instrument=instrument,
                client_id=default_client_id(inst.site, instrument, self.name, suffix),
                mqtt=self.config.mqtt,
                outbox=self.outbox,
                boot_id=self.core.emitter.boot_of(inst.site, instrument),
                status_topic=topic,
                birth=partial(self._status_payload, instrument),
                will=partial(self._status_payload, instrument, online=False),
                offline=partial(self._status_payload, instrument, online=False),
                window=self.config.outbox.replay_window,
                timings=LinkTimings(historical_after_s=self.config.outbox.historical_after_s),
            )
            self.links[instrument] = link
            link.start()

    def _start_listeners(self) -> None:
        cfg = self.config
        if cfg.udp is not None:
            try:
                self.udp = UdpReader(
                    host=cfg.udp.host,
                    port=cfg.udp.port,
                    counts=self.core.counts_for(f"udp:{cfg.udp.port}"),
                    out=self.arrivals,
                    clock=self.clock,
                )
            except OSError as exc:
                raise BridgeStartError(
                    f"cannot listen on UDP {cfg.udp.host}:{cfg.udp.port}: {exc.strerror}"
                ) from None
            self.udp.start()
        for port in cfg.serial:
            reader = SerialReader(
                port=port.port,
                baudrate=port.baudrate,
                label=port.label,
                counts=self.core.counts_for(port.label),
                out=self.arrivals,
                clock=self.clock,
            )
            self.serial_readers.append(reader)
            reader.start()
        if cfg.sparkplug is not None:
            self.sparkplug = SparkplugClient(
                mqtt=cfg.sparkplug.mqtt or cfg.mqtt,
                # The random part keeps other broker users from guessing the id and taking the
                # connection over (issue 17, item 3), as for the links.
                client_id=cfg.sparkplug.client_id
                or f"jishi-{self.name}-spb-{client_id_suffix(self.outbox)}",
                out=self.arrivals,
                clock=self.clock,
                host_id=cfg.sparkplug.host_id,
            )
            self.sparkplug.start()

    # --- loop --------------------------------------------------------------------------------

    def _store(self, outgoing: list[Outgoing]) -> None:
        """Called with the lock held, so outbox row order is seq order."""
        for item in outgoing:
            topic = build_topic(item.site, item.instrument, item.kind, self.config.mqtt.topic_root)
            link = self.links.get(item.instrument)
            self.outbox.put(
                instrument=item.instrument,
                kind=item.kind.value,
                topic=topic,
                payload=encode(item.message),
                boot_id=item.message.boot_id,
                seq=item.message.seq,
            )
            if link is not None:
                link.wake()

    def step(self, timeout: float = TICK_S) -> None:
        """Handle every arrival waiting (or the first within ``timeout``), then tick."""
        commands = []
        try:
            arrival = self.arrivals.get(timeout=timeout)
        except queue.Empty:
            arrival = None
        while arrival is not None:
            with self.lock:
                if isinstance(arrival, FrameArrival):
                    self._store(self.core.on_frame(arrival.frame, arrival.received, arrival.source))
                elif isinstance(arrival, SparkplugArrival):
                    out, sent = self.core.on_sparkplug(
                        arrival.topic, arrival.payload, arrival.received
                    )
                    self._store(out)
                    commands += sent
                elif isinstance(arrival, SparkplugConnected):
                    self.core.on_sparkplug_reconnected()
            try:
                arrival = self.arrivals.get_nowait()
            except queue.Empty:
                arrival = None
        with self.lock:
            self._store(self.core.tick(self.clock()))
        if self.sparkplug is not None:
            for command in commands:
                self.sparkplug.send(command)

    def run(self) -> None:
        log.info(
            "bridge %s starting: boot %s, %d instrument(s), broker %s, data dir %s",
            self.name,
            self.core.boot_id,
            len(self.core.instruments),
            self.config.mqtt.url,
            self.data_dir,
        )
        try:
            self._start_listeners()
            self._start_links()
            self.started.set()
            next_status = 0.0
            while not self._stopping.is_set():
                self.step()
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + 2.0
                    self.write_status()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    def _shutdown(self) -> None:
        for reader in self.serial_readers:
            reader.stop()
        if self.udp is not None:
            self.udp.stop()
        if self.sparkplug is not None:
            self.sparkplug.stop()
        for link in self.links.values():
            link.stop(clean=True)
        self.write_status()
        self.outbox.close()
        log.info("bridge stopped")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            data = self.core.snapshot(self.clock())
        data["pid"] = os.getpid()
        data["written"] = time.time()
        data["links"] = {i: link.connected for i, link in self.links.items()}
        if self.sparkplug is not None:
            data["sparkplug"] = {
                "connected": self.sparkplug.connected,
                "commands_sent": self.sparkplug.commands_sent,
                "host_id": self.sparkplug.host_id,
                "state_births": self.sparkplug.state_births,
            }
        return data

    def write_status(self) -> None:
        path = self.data_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot(), default=str, indent=1))
            os.replace(tmp, path)
        except (OSError, ValueError) as exc:
            log.warning("cannot write %s: %s", path, exc)
