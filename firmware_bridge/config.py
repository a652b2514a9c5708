"""The bridge's configuration (``bridge.toml``), parsed once at the edge into frozen dataclasses.

MQTT, outbox and rule sections are the agent's own tables, so a technician writes them the
same way in ``agent.toml`` and ``bridge.toml``; both are checked by :mod:`jishi.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from jishi import config as config_io
from jishi.agent.config import Identifier, Interval, MqttConfig, PublisherConfig, RulesConfig
from jishi.tables import Before, Bounds, Check, Length

DEFAULT_UDP_PORT = 47800


def _hex_text(value: Any) -> Any:
    # TOML has hex integers (0x1A2B3C4D); a quoted "0x1A2B3C4D" is accepted too.
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise ValueError(f"node_id {value!r} is not a number such as 0x1A2B3C4D") from None
    return value


def _topic_level(value: str) -> str:
    if not value or any(c in value for c in "/+#"):
        raise ValueError("must be a non-empty topic level without '/', '+' or '#'")
    return value


TopicLevel = Annotated[str, Check(_topic_level)]


@dataclass(frozen=True, kw_only=True)
class SerialPortConfig:
    """One serial port (or pyserial URL) where sensor nodes send COBS frames."""

    port: str
    baudrate: Annotated[int, Bounds(gt=0, le=4_000_000)] = 115_200
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.port


@dataclass(frozen=True, kw_only=True)
class UdpConfig:
    """``[udp]``: where the bridge listens for sensor nodes' UDP datagrams."""

    host: str = "0.0.0.0"  # noqa: S104 - nodes reach the bridge over the plant network
    port: Annotated[int, Bounds(ge=1, le=65_535)] = DEFAULT_UDP_PORT


@dataclass(frozen=True, kw_only=True)
class _InstrumentFields:
    """What every bridged instrument has, wherever its readings come from."""

    instrument: Identifier
    name: str | None = None
    site: Identifier | None = None
    unit: str | None = None
    category: Literal["general", "specialised"] = "general"
    heartbeat_interval_s: Interval | None = None
    rules: RulesConfig = field(default_factory=RulesConfig)


@dataclass(frozen=True, kw_only=True)
class NodeConfig(_InstrumentFields):
    """A sensor node (by its ``node_id``) feeding one instrument."""

    node_id: Annotated[int, Before(_hex_text), Bounds(ge=0, lt=2**32)]
    silence_after_s: Annotated[float, Bounds(gt=0, le=86_400)] | None = None


@dataclass(frozen=True, kw_only=True)
class SparkplugInstrumentConfig(_InstrumentFields):
    """Metrics of one Sparkplug edge node (or one of its devices) feeding one instrument;
    ``metrics`` maps reading names used by the rules to Sparkplug metric names."""

    group: TopicLevel
    edge_node: TopicLevel
    device: TopicLevel | None = None
    metrics: Annotated[dict[str, str], Length(min=1)]


@dataclass(frozen=True, kw_only=True)
class SparkplugConfig:
    """The Sparkplug B side. ``mqtt`` is the plant broker; absent, the bridge's own is used."""

    mqtt: MqttConfig | None = None
    client_id: str | None = None
    rebirth_min_interval_s: Annotated[float, Bounds(ge=0, le=3600)] = 5.0
    max_clock_skew_s: Annotated[float, Bounds(ge=0, le=86_400)] = 300.0
    # An edge node that sends nothing of its own for this long is silent: its instruments stop
    # heart-beating and the collector marks them unknown (a will with a wrong bdSeq is ignored,
    # so silence is the only way such a node's death is seen). Set it above the longest quiet
    # spell of the slowest edge node: Sparkplug reports by exception.
    silence_after_s: Annotated[float, Bounds(gt=0, le=7 * 86_400)] = 900.0
    # Act as the Primary Host with this id: STATE birth and will on spBv1.0/STATE/<host_id>.
    host_id: TopicLevel | None = None
    instruments: Annotated[list[SparkplugInstrumentConfig], Length(min=1)]


@dataclass(frozen=True, kw_only=True)
class BridgeConfig(PublisherConfig):
    """``bridge.toml``: the publisher settings, then the nodes and Sparkplug edge nodes."""

    bridge_id: Identifier | None = None
    silence_after_s: Annotated[float, Bounds(gt=0, le=86_400)] = 15.0
    serial: list[SerialPortConfig] = field(default_factory=list)
    udp: UdpConfig | None = None
    nodes: list[NodeConfig] = field(default_factory=list)
    sparkplug: SparkplugConfig | None = None

    def __post_init__(self) -> None:
        if not self.nodes and self.sparkplug is None:
            raise ValueError("nothing to bridge: add [[nodes]] or a [sparkplug] section")
        if self.nodes and not self.serial and self.udp is None:
            raise ValueError("[[nodes]] are configured but no [[serial]] port or [udp] listener")
        seen_nodes: set[int] = set()
        for node in self.nodes:
            if node.node_id in seen_nodes:
                raise ValueError(f"node_id 0x{node.node_id:08X} appears twice")
            seen_nodes.add(node.node_id)
        seen: set[tuple[str, str]] = set()
        for item in self.all_instruments():
            key = (item.site or self.site, item.instrument)
            if key in seen:
                raise ValueError(f"instrument {item.instrument!r} appears twice")
            seen.add(key)

    def all_instruments(self) -> list[NodeConfig | SparkplugInstrumentConfig]:
        sparkplug = self.sparkplug.instruments if self.sparkplug else []
        return [*self.nodes, *sparkplug]


def load_bridge_config(path: Path) -> tuple[BridgeConfig, str]:
    """Parse and validate ``bridge.toml``; errors name the file, the key and the problem."""
    return config_io.load_table(path, BridgeConfig)
