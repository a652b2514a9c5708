"""The bridge's configuration (``bridge.toml``), parsed once at the edge into frozen models.

MQTT, outbox and rule sections are the agent's own models, so a technician writes them the
same way in ``agent.toml`` and ``bridge.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jishi import config as config_io
from jishi.agent.config import MqttConfig, PublisherConfig, RulesConfig
from jishi.agent.wire import ID_PATTERN

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
DEFAULT_UDP_PORT = 47800


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialPortConfig(_Strict):
    """One serial port (or pyserial URL) where sensor nodes send COBS frames."""

    port: str
    baudrate: Annotated[int, Field(gt=0, le=4_000_000)] = 115_200
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.port


class UdpConfig(_Strict):
    """``[udp]``: where the bridge listens for sensor nodes' UDP datagrams."""

    host: str = "0.0.0.0"  # noqa: S104 - nodes reach the bridge over the plant network
    port: Annotated[int, Field(ge=1, le=65_535)] = DEFAULT_UDP_PORT


class _InstrumentFields(_Strict):
    """What every bridged instrument has, wherever its readings come from."""

    instrument: Identifier
    name: str | None = None
    site: Identifier | None = None
    unit: str | None = None
    category: Literal["general", "specialised"] = "general"
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=3600)] | None = None
    rules: RulesConfig = Field(default_factory=RulesConfig)


class NodeConfig(_InstrumentFields):
    """A sensor node (by its ``node_id``) feeding one instrument."""

    node_id: Annotated[int, Field(ge=0, lt=2**32)]
    silence_after_s: Annotated[float, Field(gt=0, le=86_400)] | None = None

    @field_validator("node_id", mode="before")
    @classmethod
    def _hex_text(cls, value: Any) -> Any:
        # TOML has hex integers (0x1A2B3C4D); a quoted "0x1A2B3C4D" is accepted too.
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                raise ValueError(f"node_id {value!r} is not a number such as 0x1A2B3C4D") from None
        return value


class SparkplugInstrumentConfig(_InstrumentFields):
    """Metrics of one Sparkplug edge node (or one of its devices) feeding one instrument;
    ``metrics`` maps reading names used by the rules to Sparkplug metric names."""

    group: str
    edge_node: str
    device: str | None = None
    metrics: dict[str, str] = Field(min_length=1)

    @field_validator("group", "edge_node", "device")
    @classmethod
    def _topic_level(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError("must be a non-empty topic level without '/', '+' or '#'")
        return value


class SparkplugConfig(_Strict):
    """The Sparkplug B side. ``mqtt`` is the plant broker; absent, the bridge's own is used."""

    mqtt: MqttConfig | None = None
    client_id: str | None = None
    rebirth_min_interval_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    max_clock_skew_s: Annotated[float, Field(ge=0, le=86_400)] = 300.0
    # An edge node that sends nothing of its own for this long is silent: its instruments stop
    # heart-beating and the collector marks them unknown (a will with a wrong bdSeq is ignored,
    # so silence is the only way such a node's death is seen). Set it above the longest quiet
    # spell of the slowest edge node: Sparkplug reports by exception.
    silence_after_s: Annotated[float, Field(gt=0, le=7 * 86_400)] = 900.0
    # Act as the Primary Host with this id: STATE birth and will on spBv1.0/STATE/<host_id>.
    host_id: str | None = None
    instruments: list[SparkplugInstrumentConfig] = Field(min_length=1)

    @field_validator("host_id")
    @classmethod
    def _host_id_level(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError("must be a non-empty topic level without '/', '+' or '#'")
        return value


class BridgeConfig(PublisherConfig):
    """``bridge.toml``: the publisher settings, then the nodes and Sparkplug edge nodes."""

    bridge_id: Identifier | None = None
    silence_after_s: Annotated[float, Field(gt=0, le=86_400)] = 15.0
    serial: list[SerialPortConfig] = Field(default_factory=list)
    udp: UdpConfig | None = None
    nodes: list[NodeConfig] = Field(default_factory=list)
    sparkplug: SparkplugConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BridgeConfig:
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
        return self

    def all_instruments(self) -> list[NodeConfig | SparkplugInstrumentConfig]:
        sparkplug = self.sparkplug.instruments if self.sparkplug else []
        return [*self.nodes, *sparkplug]


def load_bridge_config(path: Path) -> tuple[BridgeConfig, str]:
    """Parse and validate ``bridge.toml``; errors name the file, the key and the problem."""
    return config_io.load(path, BridgeConfig)
