"""The Sparkplug B wire (pure): topics (``spBv1.0/group/TYPE/edge[/device]``), a Primary Host's
STATE topic and payload, and metric values out of the protobuf payload (specification 3.0)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jishi.drivers.base import Value
from jishi.errors import JishiError
from jishi.firmware_bridge.sparkplug_pb import DataType

NAMESPACE = "spBv1.0"
_SIGNED_BITS: dict[int, int] = {
    DataType.INT8: 8,
    DataType.INT16: 16,
    DataType.INT32: 32,
    DataType.INT64: 64,
}
_NODE_TYPES = {"NBIRTH", "NDEATH", "NDATA", "NCMD"}
_DEVICE_TYPES = {"DBIRTH", "DDEATH", "DDATA", "DCMD"}


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed Sparkplug B topic: ``spBv1.0/group/TYPE/edge[/device]``."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None


class SparkplugTopicError(JishiError, ValueError):
    """Not a Sparkplug B topic."""


def parse_topic(topic: str) -> SparkplugTopic:
    parts = topic.split("/")
    if len(parts) < 2 or parts[0] != NAMESPACE:
        raise SparkplugTopicError(f"{topic!r} is not under {NAMESPACE}/")
    if parts[1] == "STATE":
        return SparkplugTopic(group="", message_type="STATE", edge_node="")
    if len(parts) == 4 and parts[2] in _NODE_TYPES:
        return SparkplugTopic(parts[1], parts[2], parts[3])
    if len(parts) == 5 and parts[2] in _DEVICE_TYPES:
        return SparkplugTopic(parts[1], parts[2], parts[3], parts[4])
    raise SparkplugTopicError(f"{topic!r} is not spBv1.0/group/type/edge_node[/device]")


def state_topic(host_id: str) -> str:
    """A Primary Host's STATE topic (specification 3.0, tck-id-host-topic-phid-birth-topic)."""
    return f"{NAMESPACE}/STATE/{host_id}"


def state_payload(*, online: bool, timestamp_ms: int) -> bytes:
    """A Primary Host's STATE birth or death: UTF-8 JSON ``{"online": .., "timestamp": ..}``.
    The birth must carry the timestamp of the will registered for the same connection
    (tck-id-host-topic-phid-birth-payload-timestamp)."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()


def metric_value(metric: Any, datatype: int | None) -> Value:
    """A metric's value as a Python scalar; signed integers undo Sparkplug's two's complement
    in ``int_value`` / ``long_value``."""
    if metric.HasField("is_null") and metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind is None or kind == "bytes_value":
        return None
    value = getattr(metric, kind)
    if kind in {"int_value", "long_value"}:
        bits = _SIGNED_BITS.get(datatype or 0)
        if bits:
            value &= (1 << bits) - 1
            if value >= 1 << (bits - 1):
                value -= 1 << bits
        return int(value)
    if isinstance(value, float | bool | str):
        return value
    return None
