"""A simulated Sparkplug B edge node: builds the payloads a real one would send, with seq,
bdSeq and aliases handled as the specification requires. Pure (no MQTT): a test or the
simulator publishes what it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jishi.firmware_bridge.sparkplug import BDSEQ_METRIC, SEQ_MODULUS
from jishi.firmware_bridge.sparkplug_pb import DataType, Payload
from jishi.firmware_bridge.sparkplug_wire import NAMESPACE

MetricValue = float | int | bool | str


def _datatype(value: MetricValue) -> DataType:
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64
    if isinstance(value, float):
        return DataType.DOUBLE
    return DataType.STRING


def _set_value(metric: Any, value: MetricValue) -> None:
    """``metric``: a Sparkplug ``Payload.Metric``, a class protobuf builds at run time from our
    descriptor (sparkplug_pb.py), so it has no static type."""
    if isinstance(value, bool):
        metric.boolean_value = value
    elif isinstance(value, int):
        # Int64 travels as its two's complement in an unsigned long_value (specification 6.4.16).
        metric.long_value = value & 0xFFFF_FFFF_FFFF_FFFF
    elif isinstance(value, float):
        metric.double_value = value
    else:
        metric.string_value = value


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


@dataclass
class EdgeNode:
    """One edge node session. ``aliases`` numbers every metric name it births."""

    group: str
    edge_node: str
    bd_seq: int = 0
    seq: int = 0
    aliases: dict[str, int] = field(default_factory=dict)

    def topic(self, message_type: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{message_type}/{self.edge_node}"
        return base if device is None else f"{base}/{device}"

    def death(self) -> tuple[str, bytes]:
        """The NDEATH to register as the MQTT will before connecting (carries bdSeq only)."""
        payload = Payload()
        metric = payload.metrics.add(name=BDSEQ_METRIC, datatype=DataType.INT64)
        metric.long_value = self.bd_seq
        return self.topic("NDEATH"), payload.SerializeToString()

    def birth(self, metrics: Mapping[str, MetricValue], ts: datetime) -> tuple[str, bytes]:
        """NBIRTH: seq restarts at 0; every metric with name, alias and datatype."""
        self.seq = 0
        return self.topic("NBIRTH"), self._payload(metrics, ts, birth=True, bd_seq=True)

    def next_session(self) -> None:
        """After a disconnect, the next connection uses the next bdSeq (0-255)."""
        self.bd_seq = (self.bd_seq + 1) % SEQ_MODULUS

    def data(
        self, metrics: Mapping[str, MetricValue], ts: datetime, device: str | None = None
    ) -> tuple[str, bytes]:
        """NDATA or DDATA, metrics by alias only (as report-by-exception nodes send them)."""
        self._advance()
        kind = "NDATA" if device is None else "DDATA"
        return self.topic(kind, device), self._payload(metrics, ts, birth=False, scope=device or "")

    def device_birth(
        self, device: str, metrics: Mapping[str, MetricValue], ts: datetime
    ) -> tuple[str, bytes]:
        self._advance()
        return self.topic("DBIRTH", device), self._payload(metrics, ts, birth=True, scope=device)

    def device_death(self, device: str, ts: datetime) -> tuple[str, bytes]:
        self._advance()
        return self.topic("DDEATH", device), self._payload({}, ts, birth=False)

    def skip(self, count: int = 1) -> None:
        """Lose ``count`` messages (for tests of the host's gap handling)."""
        self.seq = (self.seq + count) % SEQ_MODULUS

    def _advance(self) -> None:
        self.seq = (self.seq + 1) % SEQ_MODULUS

    def _payload(
        self,
        metrics: Mapping[str, MetricValue],
        ts: datetime,
        *,
        birth: bool,
        bd_seq: bool = False,
        scope: str = "",
    ) -> bytes:
        payload = Payload(timestamp=_ms(ts), seq=self.seq)
        if bd_seq:
            bd = payload.metrics.add(name=BDSEQ_METRIC, datatype=DataType.INT64)
            bd.long_value = self.bd_seq
        for name, value in metrics.items():
            key = f"{scope}/{name}"
            if birth:
                alias = self.aliases.setdefault(key, len(self.aliases) + 1)
                metric = payload.metrics.add(name=name, alias=alias, datatype=_datatype(value))
            else:
                metric = payload.metrics.add(alias=self.aliases[key], timestamp=_ms(ts))
            _set_value(metric, value)
        return bytes(payload.SerializeToString())
