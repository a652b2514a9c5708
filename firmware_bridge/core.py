"""The bridge's pure core: frames and Sparkplug messages in, canonical jishi messages out.

Theory of operation. Each configured instrument has the agent's :class:`StateInferrer` with
its rules, fed readings built from sensor-node frames or Sparkplug metrics. The core emits:

* a ``state`` message at every transition (dated at the frame's receive time, or at the
  Sparkplug metric's timestamp), carrying the readings that decided it;
* a ``hb`` every heartbeat interval while the instrument is *alive*: for a sensor node, while
  frames keep coming (node silence stops heartbeats, so the collector marks the instrument
  unknown after its stale time; the first frame after silence sends one at once); for a
  Sparkplug instrument, between its birth and its death certificate (Sparkplug reports by
  exception, so quiet is not dead) unless its edge node sends nothing for the
  ``[sparkplug] silence_after_s``: then heartbeats stop as for a silent sensor node;
* a ``status`` ``online: false`` at NDEATH / DDEATH, and ``online: true`` at the next birth.

Messages are built by the agent's :class:`jishi.agent.emitter.Emitter`: ``boot_id`` and
``boot_at`` are one per bridge start and ``seq`` one counter for all its instruments, so it is
strictly increasing per ``boot_id`` as the wire schema requires. No I/O and no clock: time is
an argument; the shell (``service.py``) stores what comes out in the outbox.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jishi import __version__
from jishi.agent.core import OutboxFigures, agent_health, heartbeat, heartbeat_due
from jishi.agent.emitter import Birth, Emitter, Outgoing
from jishi.agent.inference import StateInferrer
from jishi.agent.messages import MessageKind, SourceHealth, StatusMessage
from jishi.drivers.base import Reading
from jishi.firmware_bridge.config import BridgeConfig, NodeConfig, SparkplugInstrumentConfig
from jishi.firmware_bridge.frame import Frame, StatusFlag
from jishi.firmware_bridge.frame import encode as encode_frame
from jishi.firmware_bridge.sparkplug import Command, MetricMap, SparkplugHost
from jishi.firmware_bridge.stream import RejectCounts
from jishi.firmware_bridge.tracking import NodeEvent, NodeEventKind, NodeTracker

log = logging.getLogger(__name__)

__all__ = ["BridgeCore", "OutboxFigures", "Outgoing"]


@dataclass
class BridgedInstrument:
    """One instrument the bridge publishes for: its config, the node or edge node it comes from, its
    state inference and its liveness."""

    config: NodeConfig | SparkplugInstrumentConfig
    site: str
    heartbeat_s: float
    source: str  # "node-0x1A2B3C4D" or "spb:group/edge[/device]"
    inferrer: StateInferrer
    online: bool = True
    next_heartbeat: datetime | None = None
    last_good_read: datetime | None = None
    read_errors: int = 0
    last_error: str | None = None
    last_raw: str | None = None

    @property
    def id(self) -> str:
        return self.config.instrument


@dataclass
class BridgeCore:
    """All instruments of one bridge; feed it with :meth:`on_frame`, :meth:`on_sparkplug`
    and :meth:`tick`, each returning what to publish."""

    config: BridgeConfig
    boot_at: datetime  # the bridge's start: orders its messages after an earlier start's
    config_hash: str = ""
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    hostname: str | None = None
    figures: Callable[[str], OutboxFigures] = lambda _instrument: OutboxFigures()
    instruments: dict[str, BridgedInstrument] = field(init=False)
    by_node: dict[int, BridgedInstrument] = field(init=False)
    tracker: NodeTracker = field(init=False)
    sparkplug: SparkplugHost | None = field(init=False)
    rejects: dict[str, RejectCounts] = field(init=False, default_factory=dict)
    unmapped_frames: int = field(init=False, default=0)
    emitter: Emitter = field(init=False)

    def __post_init__(self) -> None:
        self.emitter = Emitter(boot_at=self.boot_at, boot_id=self.boot_id)
        cfg = self.config
        self.instruments = {}
        self.by_node = {}
        for node in cfg.nodes:
            inst = self._add(node, f"node-0x{node.node_id:08X}")
            self.by_node[node.node_id] = inst
        self.tracker = NodeTracker(
            cfg.silence_after_s,
            {n.node_id: n.silence_after_s for n in cfg.nodes if n.silence_after_s is not None},
        )
        self.sparkplug = None
        if cfg.sparkplug is not None:
            maps = []
            for item in cfg.sparkplug.instruments:
                where = f"{item.group}/{item.edge_node}" + (
                    f"/{item.device}" if item.device else ""
                )
                inst = self._add(item, f"spb:{where}")
                # Sparkplug instruments are offline until their birth certificate.
                inst.online = False
                maps.append(
                    MetricMap(
                        item.instrument, item.group, item.edge_node, item.device, item.metrics
                    )
                )
            self.sparkplug = SparkplugHost(
                maps,
                rebirth_min_interval_s=cfg.sparkplug.rebirth_min_interval_s,
                max_clock_skew_s=cfg.sparkplug.max_clock_skew_s,
                silence_after_s=cfg.sparkplug.silence_after_s,
            )

    def _add(self, item: NodeConfig | SparkplugInstrumentConfig, source: str) -> BridgedInstrument:
        inst = BridgedInstrument(
            config=item,
            site=item.site or self.config.site,
            heartbeat_s=item.heartbeat_interval_s or self.config.heartbeat_interval_s,
            source=source,
            inferrer=StateInferrer(item.rules.to_rules()),
        )
        self.instruments[item.instrument] = inst
        return inst

    # --- envelopes -------------------------------------------------------------------------

    def status(
        self, instrument: str, now: datetime, *, online: bool | None = None
    ) -> StatusMessage:
        """The instrument's status; also the birth its MQTT link publishes on connect."""
        inst = self.instruments[instrument]
        is_online = inst.online if online is None else online
        if not is_online:
            out = self.emitter.offline(inst.site, inst.id, now)
        else:
            about = Birth(
                agent_version=__version__,
                config_hash=self.config_hash or None,
                heartbeat_interval_s=inst.heartbeat_s,
                name=inst.config.name,
                unit=inst.config.unit,
                category=inst.config.category,
                hostname=self.hostname,
            )
            out = self.emitter.birth(inst.site, inst.id, now, about)
        assert isinstance(out.message, StatusMessage)
        return out.message

    def _status_out(self, inst: BridgedInstrument, now: datetime) -> Outgoing:
        message = self.status(inst.id, now)
        return Outgoing(inst.id, inst.site, MessageKind.STATUS, message)

    # --- inputs ------------------------------------------------------------------------------

    def counts_for(self, source: str) -> RejectCounts:
        return self.rejects.setdefault(source, RejectCounts())

    def on_frame(self, frame: Frame, now: datetime, source: str = "") -> list[Outgoing]:
        """One accepted frame from a serial port or UDP, received at ``now``."""
        used, events = self.tracker.observe(frame, now)
        inst = self.by_node.get(frame.node_id)
        for event in events:
            _log_node_event(event, inst.id if inst else None, source)
        if inst is None:
            self.unmapped_frames += 1
            return []
        if not used:
            return []
        raw = frame_hex(frame)
        if frame.flags & StatusFlag.SENSOR_FAULT:
            reading = Reading(ts=now, raw=raw, error="node reports SENSOR_FAULT")
        else:
            reading = Reading(ts=now, values=frame.readings(), raw=raw)
        out = self._feed(inst, reading)
        if any(e.kind in {NodeEventKind.RESUMED, NodeEventKind.FIRST_SEEN} for e in events):
            inst.next_heartbeat = now  # tell the collector at once that data is fresh again
        return out + self._heartbeat_if_due(inst, now)

    def on_sparkplug(
        self, topic: str, payload: bytes, now: datetime
    ) -> tuple[list[Outgoing], list[Command]]:
        if self.sparkplug is None:
            return [], []
        result = self.sparkplug.handle(topic, payload, now)
        for event in result.events:
            log.info("sparkplug %s: %s %s", event.kind.value, event.topic, event.detail)
        out: list[Outgoing] = []
        for change in result.online:
            inst = self.instruments[change.instrument]
            if change.online == inst.online:
                continue
            inst.online = change.online
            log.info(
                "%s: %s (%s)", inst.id, "online" if change.online else "offline", change.reason
            )
            out.append(self._status_out(inst, change.ts))
            if change.online:
                inst.next_heartbeat = now
        for update in result.updates:
            inst = self.instruments[update.instrument]
            out += self._feed(inst, Reading(ts=update.ts, values=dict(update.values)))
        for instrument in dict.fromkeys(u.instrument for u in result.updates):
            out += self._heartbeat_if_due(self.instruments[instrument], now)
        return out, result.commands

    def on_sparkplug_reconnected(self) -> None:
        """The Sparkplug MQTT connection came back: births may have been missed meanwhile."""
        if self.sparkplug is not None:
            self.sparkplug.reconnected()

    def _feed(self, inst: BridgedInstrument, reading: Reading) -> list[Outgoing]:
        if not reading.ok:
            inst.read_errors += 1
            inst.last_error = reading.error
            return []
        inst.last_good_read = reading.ts
        inst.last_raw = reading.raw
        out = []
        for transition in inst.inferrer.feed(reading):
            log.info(
                "%s: %s -> %s (%s)",
                inst.id,
                transition.previous.value if transition.previous else "-",
                transition.state.value,
                transition.reason,
            )
            out.append(self.emitter.state(inst.site, inst.id, transition, reading.ts))
        return out

    # --- time --------------------------------------------------------------------------------

    def alive(self, inst: BridgedInstrument, now: datetime) -> bool:
        if isinstance(inst.config, NodeConfig):
            return self.tracker.is_fresh(inst.config.node_id, now)
        host, cfg = self.sparkplug, inst.config
        return inst.online and host is not None and host.is_fresh(cfg.group, cfg.edge_node, now)

    def tick(self, now: datetime) -> list[Outgoing]:
        """Silence detection and due heartbeats."""
        for event in self.tracker.check(now):
            inst = self.by_node.get(event.node_id)
            _log_node_event(event, inst.id if inst else None, "")
        if self.sparkplug is not None:
            for spb_event in self.sparkplug.check(now):
                log.warning(
                    "sparkplug %s: %s %s", spb_event.kind.value, spb_event.topic, spb_event.detail
                )
        out: list[Outgoing] = []
        for inst in self.instruments.values():
            out += self._heartbeat_if_due(inst, now)
        return out

    def _heartbeat_if_due(self, inst: BridgedInstrument, now: datetime) -> list[Outgoing]:
        # The agent's heartbeat rules (jishi.agent.core); "alive" is the bridge's own silence.
        if not self.alive(inst, now) or not heartbeat_due(
            inst.inferrer.state, inst.next_heartbeat, now
        ):
            return []
        inst.next_heartbeat = now + timedelta(seconds=inst.heartbeat_s)
        source = SourceHealth(
            last_good_read=inst.last_good_read,
            read_errors=inst.read_errors,
            last_error=inst.last_error,
        )
        health = agent_health(self.figures(inst.id), {inst.source: source})
        out = heartbeat(self.emitter, inst, now=now, health=health)
        return [] if out is None else [out]

    # --- figures -----------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> dict[str, Any]:
        """Counters and per-instrument state, for the status file and logs."""
        return {
            "boot_id": self.boot_id,
            "rejects": {source: c.as_dict() for source, c in self.rejects.items()},
            "unmapped_frames": self.unmapped_frames,
            "nodes": {
                f"0x{n.node_id:08X}": {
                    "silent": n.silent,
                    "frames": n.frames,
                    "missed": n.missed,
                    "duplicates": n.duplicates,
                    "reboots": n.reboots,
                    "last_seen": n.last_seen.isoformat(),
                }
                for n in self.tracker.nodes.values()
            },
            "instruments": {
                inst.id: {
                    "state": inst.inferrer.state.value if inst.inferrer.state else None,
                    "alive": self.alive(inst, now),
                    "source": inst.source,
                    "read_errors": inst.read_errors,
                }
                for inst in self.instruments.values()
            },
        }


def frame_hex(frame: Frame) -> str:
    """The frame's wire bytes, kept with its reading so a wrong rule can be re-run later."""
    return encode_frame(frame).hex()


def _log_node_event(event: NodeEvent, instrument: str | None, source: str) -> None:
    where = f" on {source}" if source else ""
    name = f"node 0x{event.node_id:08X}" + (f" ({instrument})" if instrument else " (unmapped)")
    if event.kind in {NodeEventKind.SILENT, NodeEventKind.REBOOT, NodeEventKind.GAP}:
        log.warning("%s: %s%s %s", name, event.kind.value, where, event.detail)
    else:
        log.info("%s: %s%s %s", name, event.kind.value, where, event.detail)
