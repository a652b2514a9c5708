"""A Sparkplug B host application, as a pure state machine: topic + payload + time in,
instrument readings, online changes and Rebirth commands out.

Theory of operation (Eclipse Sparkplug 3.0, chapters 5 and 6):

* Topics are ``spBv1.0/{group}/{type}/{edge_node}[/{device}]``. An edge node announces itself
  with NBIRTH (all node metrics with names, aliases and datatypes, plus ``bdSeq``), its devices
  with DBIRTH; later NDATA/DDATA may name metrics by alias only.
* ``seq`` runs 0..255 and wraps, shared by every message of one edge node except NDEATH; the
  NBIRTH sets the start. A message whose seq is not the previous plus one means messages were
  lost, and so were possibly births and aliases: the host drops it, stops trusting the node and
  asks for a rebirth (NCMD ``Node Control/Rebirth`` = true). So does data from a node or device
  that has not been born. Requests are rate-limited per node.
* NDEATH is the edge node's MQTT will; its ``bdSeq`` must equal the one of the current NBIRTH,
  otherwise it is the late will of an earlier session and is ignored. NDEATH takes the node and
  all its devices offline; DDEATH one device.
* Sparkplug reports by exception: a quiet node is not a dead one, so instruments stay online
  with their last values until a death certificate, within a limit: a node that sends nothing
  for ``silence_after_s`` is *silent* (:meth:`SparkplugHost.check`) and its instruments are no
  longer fresh, as a silent sensor node's (``tracking.py``). Without it a node whose will
  carries a wrong bdSeq (a peer library's bug, issue 17 item 7) would stay online for ever:
  its NDEATH must still be ignored, since the host cannot tell it from a late will. Any message
  of the node's own (everything but NDEATH, which the broker publishes) ends the silence.
* A node is *dead* after an NDEATH whose bdSeq matched its NBIRTH's: its MQTT session is over,
  and an edge node opens every new session with an NBIRTH, so anything else is a late message
  of the ended session. It is dropped and answered with no Rebirth request (issue 17 item 7):
  an NCMD to a node without a session goes nowhere, or starts a needless rebirth when it
  reconnects. An NDEATH that cannot be checked (no NBIRTH seen, no bdSeq) still takes the
  instruments offline but does not make the node dead. When the host's own connection comes
  back it may have missed births, so :meth:`SparkplugHost.reconnected` forgets the deaths.

Only edge nodes with a configured instrument are asked for rebirths: the bridge is a
non-primary host and must not cause rebirth storms on nodes it does not use. With a
``host_id`` it also acts as a Primary Host: :func:`state_topic` and :func:`state_payload`
build its STATE birth and will (specification 3.0, TCK assertions
``tck-id-host-topic-phid-*``); the MQTT side is ``sparkplug_client.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from google.protobuf.message import DecodeError

from jishi.drivers.base import Value
from jishi.firmware_bridge.sparkplug_pb import DataType, Payload
from jishi.firmware_bridge.sparkplug_wire import (
    NAMESPACE,
    SparkplugTopic,
    SparkplugTopicError,
    metric_value,
    parse_topic,
)

REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
SEQ_MODULUS = 256


class HostEventKind(StrEnum):
    """What the Sparkplug host noticed that is not an instrument update (sequence gaps, unborn
    nodes, bad payloads)."""

    SEQ_GAP = "seq_gap"
    NOT_BORN = "not_born"
    STALE_DEATH = "stale_death"
    BAD_PAYLOAD = "bad_payload"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_ALIAS = "unknown_alias"
    REBIRTH_REQUESTED = "rebirth_requested"
    SILENT = "silent"
    RESUMED = "resumed"
    AFTER_DEATH = "after_death"


@dataclass(frozen=True, slots=True)
class MetricMap:
    """Which Sparkplug metrics of one edge node (or one of its devices) feed one instrument;
    ``metrics`` maps the instrument's reading name to the Sparkplug metric name."""

    instrument: str
    group: str
    edge_node: str
    device: str | None
    metrics: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class InstrumentUpdate:
    """New metric values for one configured instrument, dated by the edge node."""

    instrument: str
    ts: datetime
    values: Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class OnlineChange:
    """An instrument came online or went offline (birth, death, stale death) and why."""

    instrument: str
    online: bool
    ts: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Command:
    """An MQTT message the host must publish (QoS 0, not retained, per the specification)."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class HostEvent:
    """A :class:`HostEventKind` with the topic it came from, for the log and the status counts."""

    kind: HostEventKind
    topic: str
    detail: str


@dataclass
class HostOutput:
    """Everything the host decided from one message: updates, online changes, commands to publish,
    events."""

    updates: list[InstrumentUpdate] = field(default_factory=list)
    online: list[OnlineChange] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    events: list[HostEvent] = field(default_factory=list)


@dataclass
class _Metrics:
    """Names by alias and datatypes by name, learnt from a birth certificate."""

    names: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, int] = field(default_factory=dict)

    def learn(self, metrics: Sequence[Any]) -> None:
        self.names.clear()
        self.datatypes.clear()
        for metric in metrics:
            if not metric.name:
                continue
            if metric.HasField("alias"):
                self.names[metric.alias] = metric.name
            if metric.HasField("datatype"):
                self.datatypes[metric.name] = metric.datatype


@dataclass
class _EdgeNode:
    born: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    metrics: _Metrics = field(default_factory=_Metrics)
    devices: dict[str, _Metrics] = field(default_factory=dict)
    last_rebirth_request: datetime | None = None
    last_heard: datetime | None = None  # its last message of its own (not NDEATH)
    silent: bool = False
    dead: bool = False  # after a valid NDEATH, until the next NBIRTH


def _from_ms(ms: int, now: datetime, max_skew: timedelta) -> datetime:
    """A Sparkplug timestamp (ms since the epoch, UTC); the receive time if it is absurd."""
    try:
        ts = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return now if ts > now + max_skew else ts


def rebirth_command(group: str, edge_node: str, now: datetime) -> Command:
    payload = Payload(timestamp=int(now.timestamp() * 1000))
    payload.metrics.add(
        name=REBIRTH_METRIC,
        datatype=DataType.BOOLEAN,
        boolean_value=True,
        timestamp=int(now.timestamp() * 1000),
    )
    return Command(f"{NAMESPACE}/{group}/NCMD/{edge_node}", payload.SerializeToString())


class SparkplugHost:
    """Host-application state for every edge node seen; ``handle`` one message at a time."""

    def __init__(
        self,
        maps: Sequence[MetricMap],
        *,
        rebirth_min_interval_s: float = 5.0,
        max_clock_skew_s: float = 300.0,
        silence_after_s: float = 900.0,
    ) -> None:
        self.maps = tuple(maps)
        self.silence_after = timedelta(seconds=silence_after_s)
        self.rebirth_min_interval = timedelta(seconds=rebirth_min_interval_s)
        self.max_skew = timedelta(seconds=max_clock_skew_s)
        self.nodes: dict[tuple[str, str], _EdgeNode] = {}
        self._by_source: dict[tuple[str, str, str | None], list[MetricMap]] = {}
        for item in self.maps:
            self._by_source.setdefault((item.group, item.edge_node, item.device), []).append(item)
        self._wanted_nodes = {(m.group, m.edge_node) for m in self.maps}

    def handle(self, topic: str, payload: bytes, now: datetime) -> HostOutput:
        out = HostOutput()
        try:
            where = parse_topic(topic)
        except SparkplugTopicError as exc:
            out.events.append(HostEvent(HostEventKind.BAD_TOPIC, topic, str(exc)))
            return out
        if where.message_type in {"STATE", "NCMD", "DCMD"}:
            return out  # other hosts' and our own commands
        try:
            message = Payload.FromString(payload)
        except DecodeError as exc:
            out.events.append(HostEvent(HostEventKind.BAD_PAYLOAD, topic, str(exc)))
            return out
        node = self.nodes.setdefault((where.group, where.edge_node), _EdgeNode())
        ctx = _Context(where, topic, message, now, out)
        kind = where.message_type
        if kind != "NDEATH":
            self._heard(ctx, node)
        if kind == "NBIRTH":
            self._nbirth(ctx, node)
        elif kind == "NDEATH":
            self._ndeath(ctx, node)
        elif node.dead:
            detail = "late message after the node's NDEATH; no rebirth request to a dead node"
            out.events.append(HostEvent(HostEventKind.AFTER_DEATH, topic, detail))
        elif self._in_sequence(ctx, node):
            self._sequenced(ctx, node)
        return out

    def _sequenced(self, ctx: _Context, node: _EdgeNode) -> None:
        """NDATA and the device messages, once their seq proved nothing was lost."""
        where, message, kind = ctx.where, ctx.message, ctx.where.message_type
        device = where.device
        if kind == "NDATA":
            self._data(ctx, None, node.metrics)
        elif kind == "DBIRTH" and device is not None:
            node.devices[device] = _Metrics()
            node.devices[device].learn(message.metrics)
            self._data(ctx, device, node.devices[device])
            self._set_online(ctx, device, online=True)
        elif kind == "DDATA" and device is not None:
            if device not in node.devices:
                self._not_born(ctx, node, f"device {device}")
            else:
                self._data(ctx, device, node.devices[device])
        elif kind == "DDEATH" and device is not None:
            node.devices.pop(device, None)
            self._set_online(ctx, device, online=False)

    # --- liveness --------------------------------------------------------------------------

    def check(self, now: datetime) -> list[HostEvent]:
        """Configured edge nodes that fell silent since the last check (nothing of their own
        for ``silence_after_s``); dead ones are not silent, they are dead already."""
        events = []
        for (group, edge_node), node in self.nodes.items():
            if node.silent or node.dead or node.last_heard is None:
                continue
            if (group, edge_node) not in self._wanted_nodes:
                continue
            if now - node.last_heard >= self.silence_after:
                node.silent = True
                detail = f"nothing for {self.silence_after.total_seconds():g} s"
                topic = f"{NAMESPACE}/{group}/+/{edge_node}"
                events.append(HostEvent(HostEventKind.SILENT, topic, detail))
        return events

    def is_fresh(self, group: str, edge_node: str, now: datetime) -> bool:
        """Whether the edge node is alive as far as the host knows: heard from within
        ``silence_after_s`` and not dead."""
        node = self.nodes.get((group, edge_node))
        if node is None or node.dead or node.silent or node.last_heard is None:
            return False
        return now - node.last_heard < self.silence_after

    def reconnected(self) -> None:
        """The host's own MQTT connection came back: births, deaths and data of that gap are
        lost, so a node seen dead may be alive in a session whose NBIRTH the host missed.
        Forget the deaths; the next data from such a node gets a Rebirth request."""
        for node in self.nodes.values():
            if node.dead:
                node.dead = False
                node.born = False
                node.seq = None

    def _heard(self, ctx: _Context, node: _EdgeNode) -> None:
        if node.silent:
            node.silent = False
            ctx.out.events.append(HostEvent(HostEventKind.RESUMED, ctx.topic, "heard again"))
        node.last_heard = ctx.now

    # --- message kinds -------------------------------------------------------------------

    def _nbirth(self, ctx: _Context, node: _EdgeNode) -> None:
        message = ctx.message
        node.born = True
        node.dead = False
        node.seq = int(message.seq) % SEQ_MODULUS if message.HasField("seq") else 0
        node.bd_seq = _bd_seq(message)
        node.metrics.learn(message.metrics)
        # A new session: devices must be born again before their data can be trusted.
        node.devices.clear()
        node.last_rebirth_request = None
        self._data(ctx, None, node.metrics)
        self._set_online(ctx, None, online=True)

    def _ndeath(self, ctx: _Context, node: _EdgeNode) -> None:
        bd_seq = _bd_seq(ctx.message)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            detail = f"bdSeq {bd_seq}, current {node.bd_seq}"
            ctx.out.events.append(HostEvent(HostEventKind.STALE_DEATH, ctx.topic, detail))
            return
        # Dead only when the bdSeq proved this NDEATH ends the session the host saw born.
        node.dead = node.bd_seq is not None and bd_seq is not None
        node.born = False
        node.silent = False
        node.seq = None
        node.devices.clear()
        # The node's death is its devices' death too (specification 3.0, section 5.7).
        where = ctx.where
        for item in self.maps:
            if (item.group, item.edge_node) == (where.group, where.edge_node):
                ctx.out.online.append(OnlineChange(item.instrument, False, ctx.now, "NDEATH"))

    def _in_sequence(self, ctx: _Context, node: _EdgeNode) -> bool:
        if not node.born or node.seq is None:
            self._not_born(ctx, node, "edge node")
            return False
        seq = int(ctx.message.seq) if ctx.message.HasField("seq") else None
        expected = (node.seq + 1) % SEQ_MODULUS
        if seq != expected:
            detail = f"seq {seq}, expected {expected}"
            ctx.out.events.append(HostEvent(HostEventKind.SEQ_GAP, ctx.topic, detail))
            node.born = False
            node.seq = None
            self._request_rebirth(ctx, node)
            return False
        node.seq = seq
        return True

    def _not_born(self, ctx: _Context, node: _EdgeNode, what: str) -> None:
        detail = f"{what} has not been born"
        ctx.out.events.append(HostEvent(HostEventKind.NOT_BORN, ctx.topic, detail))
        self._request_rebirth(ctx, node)

    def _request_rebirth(self, ctx: _Context, node: _EdgeNode) -> None:
        where = ctx.where
        if (where.group, where.edge_node) not in self._wanted_nodes:
            return
        last = node.last_rebirth_request
        if last is not None and ctx.now - last < self.rebirth_min_interval:
            return
        node.last_rebirth_request = ctx.now
        ctx.out.commands.append(rebirth_command(where.group, where.edge_node, ctx.now))
        ctx.out.events.append(
            HostEvent(HostEventKind.REBIRTH_REQUESTED, ctx.topic, "NCMD Node Control/Rebirth")
        )

    def _data(self, ctx: _Context, device: str | None, known: _Metrics) -> None:
        maps = self._by_source.get((ctx.where.group, ctx.where.edge_node, device))
        if not maps:
            return
        message, now = ctx.message, ctx.now
        default_ts = (
            _from_ms(message.timestamp, now, self.max_skew)
            if message.HasField("timestamp")
            else now
        )
        values: dict[str, tuple[Value, datetime]] = {}
        for metric in message.metrics:
            name: str | None = metric.name
            if not name and metric.HasField("alias"):
                name = known.names.get(metric.alias)
            if not name:
                detail = f"alias {metric.alias} not in the birth certificate"
                ctx.out.events.append(HostEvent(HostEventKind.UNKNOWN_ALIAS, ctx.topic, detail))
                continue
            datatype = metric.datatype if metric.HasField("datatype") else known.datatypes.get(name)
            ts = (
                _from_ms(metric.timestamp, now, self.max_skew)
                if metric.HasField("timestamp")
                else default_ts
            )
            values[name] = (metric_value(metric, datatype), ts)
        for item in maps:
            picked = {
                reading: values[metric_name]
                for reading, metric_name in item.metrics.items()
                if metric_name in values
            }
            if picked:
                ts = max(ts for _, ts in picked.values())
                ctx.out.updates.append(
                    InstrumentUpdate(item.instrument, ts, {k: v for k, (v, _) in picked.items()})
                )

    def _set_online(self, ctx: _Context, device: str | None, *, online: bool) -> None:
        key = (ctx.where.group, ctx.where.edge_node, device)
        for item in self._by_source.get(key, []):
            change = OnlineChange(item.instrument, online, ctx.now, ctx.where.message_type)
            ctx.out.online.append(change)


@dataclass(frozen=True, slots=True)
class _Context:
    """One message being handled."""

    where: SparkplugTopic
    topic: str
    message: Any
    now: datetime
    out: HostOutput


def _bd_seq(message: Any) -> int | None:
    for metric in message.metrics:
        if metric.name == BDSEQ_METRIC:
            value = metric_value(metric, DataType.UINT64)
            return int(value) if isinstance(value, int) else None
    return None
