"""The agent's configuration (``agent.toml``), parsed once at the edge into frozen dataclasses.

Checked by :mod:`jishi.tables` (types, ranges and patterns in each field's ``Annotated``
metadata, checks across keys in ``__post_init__``), not pydantic: the agent must stay small
(issue 14). The bridge's ``bridge.toml`` reuses the ``[mqtt]``, ``[outbox]`` and rule tables.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Self

from jishi.agent.inference import (
    DISCRETE_PRIORITY,
    EVENT_PRIORITY,
    THRESHOLD_PRIORITY,
    DiscreteRule,
    Rules,
    ThresholdRule,
)
from jishi.agent.messages import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_TOPIC_ROOT,
    ID_PATTERN,
    InstrumentState,
)
from jishi.config import read_secret
from jishi.errors import ConfigError
from jishi.mqtt import (
    BrokerUrl,
    MqttSettings,
    TlsFiles,
    check_broker_pairs,
    check_broker_url,
    check_topic_root,
)
from jishi.tables import EXTRA_KEYS, Bounds, Check, ConfigPath, Length, Pattern

Identifier = Annotated[str, Pattern(ID_PATTERN)]
Priority = Annotated[int, Bounds(ge=0, le=1000)]
Interval = Annotated[float, Bounds(gt=0, le=3600)]
_MB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class MqttConfig:
    """``[mqtt]``: the broker URL, topic root, protocol, credentials (from a file or a variable,
    never the command line) and TLS files. The keys up to ``tls_key_file`` are those of the
    collector's ``[mqtt]`` (:class:`jishi.pydantic_config.BrokerSection`)."""

    # Which program reads the password (for the error message when it cannot).
    reader: ClassVar[str] = "agent"

    broker: Annotated[str, Check(check_broker_url)] = "mqtt://127.0.0.1:1883"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password_file: ConfigPath | None = None
    password_env: str | None = None
    keepalive_s: Annotated[int, Bounds(ge=5, le=3600)] = 30
    tls_ca_file: ConfigPath | None = None
    tls_cert_file: ConfigPath | None = None
    tls_key_file: ConfigPath | None = None
    topic_root: Annotated[str, Check(check_topic_root)] = DEFAULT_TOPIC_ROOT
    inflight: Annotated[int, Bounds(ge=1, le=1000)] = 100
    tls_insecure: bool = False
    reconnect_min_s: Annotated[float, Bounds(gt=0, le=60)] = 1.0
    reconnect_max_s: Annotated[float, Bounds(gt=0, le=3600)] = 60.0

    def __post_init__(self) -> None:
        check_broker_pairs(
            self.tls_cert_file, self.tls_key_file, self.password_file, self.password_env
        )

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl.parse(self.broker)

    def password(self) -> str | None:
        """Read the password from its file or environment variable, when it is asked for."""
        return read_secret(self.password_file, self.password_env, "mqtt.password", self.reader)

    def settings(self, client_id: str) -> MqttSettings:
        """The connection settings, password read now: a fixed password file is used on the
        next connection attempt, without a restart. Raises ``ConfigError`` if unreadable."""
        url = self.url
        return MqttSettings(
            url=url,
            client_id=client_id,
            protocol=self.protocol,
            username=self.username,
            password=self.password() if self.username is not None else None,
            tls=TlsFiles.wanted(
                url, self.tls_ca_file, self.tls_cert_file, self.tls_key_file, self.tls_insecure
            ),
            keepalive_s=self.keepalive_s,
        )


@dataclass(frozen=True, kw_only=True)
class ThresholdConfig:
    """``[[instruments.rules.threshold]]``: states from one numeric reading (off below, running
    above, fault above), with hysteresis."""

    reading: str = "power_w"
    off_below: float | None = None
    running_above: float | None = None
    fault_above: float | None = None
    hysteresis: Annotated[float, Bounds(ge=0)] = 0.0
    priority: Priority = THRESHOLD_PRIORITY

    def __post_init__(self) -> None:
        if self.off_below is None and self.running_above is None and self.fault_above is None:
            raise ValueError("give at least one of off_below, running_above, fault_above")
        if (
            self.off_below is not None
            and self.running_above is not None
            and self.off_below > self.running_above
        ):
            raise ValueError(
                f"off_below ({self.off_below}) must not exceed running_above ({self.running_above})"
            )

    def to_rule(self) -> ThresholdRule:
        return ThresholdRule(
            reading=self.reading,
            off_below=self.off_below,
            running_above=self.running_above,
            fault_above=self.fault_above,
            hysteresis=self.hysteresis,
            priority=self.priority,
        )


@dataclass(frozen=True, kw_only=True)
class DiscreteConfig:
    """``[[instruments.rules.discrete]]``: states from the values of one reading (a status register,
    a mode word)."""

    reading: str
    states: dict[str, InstrumentState]
    default: InstrumentState | None = None
    priority: Priority = DISCRETE_PRIORITY

    def to_rule(self) -> DiscreteRule:
        return DiscreteRule(
            reading=self.reading,
            states=dict(self.states),
            default=self.default,
            priority=self.priority,
        )


@dataclass(frozen=True, kw_only=True)
class RulesConfig:
    """``[instruments.rules]``: how readings and events become states (thresholds, discrete maps,
    dwell, maintenance, initial state)."""

    threshold: list[ThresholdConfig] = field(default_factory=list)
    discrete: list[DiscreteConfig] = field(default_factory=list)
    min_dwell_s: Annotated[float, Bounds(ge=0, le=86_400)] = 0.0
    maintenance: bool = False
    initial: InstrumentState | None = None
    # Priority of the sources' own events (log records, a serial protocol's state frames).
    event_priority: Priority = EVENT_PRIORITY

    def to_rules(self) -> Rules:
        return Rules(
            thresholds=tuple(t.to_rule() for t in self.threshold),
            discrete=tuple(d.to_rule() for d in self.discrete),
            min_dwell_s=self.min_dwell_s,
            maintenance=self.maintenance,
            initial=self.initial,
            event_priority=self.event_priority,
        )


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """One source of readings; ``driver`` picks the driver, the other keys are its options
    (checked by the driver, see :mod:`jishi.drivers.options`)."""

    driver: str
    # A state message names its source in at most 64 characters (the wire schema).
    name: Annotated[str, Length(max=64)] | None = None
    extra: dict[str, Any] = field(default_factory=dict, metadata={EXTRA_KEYS: True})

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.extra)


@dataclass(frozen=True, kw_only=True)
class InstrumentConfig:
    """``[[instruments]]``: one instrument, its identity for the usage figures and its sources and
    rules."""

    id: Identifier
    name: str | None = None
    site: Identifier | None = None
    unit: str | None = None
    category: Literal["general", "specialised"] = "general"
    heartbeat_interval_s: Interval | None = None
    poll_interval_s: Interval | None = None
    source: SourceConfig | None = None
    sources: list[SourceConfig] = field(default_factory=list)
    rules: RulesConfig = field(default_factory=RulesConfig)
    # A session left open while the instrument is off or idle this long is closed with the
    # reason ``forgot_sign_out`` (docs/sessions.md); 0 keeps sessions open until they end.
    session_close_after_s: Annotated[float, Bounds(ge=0, le=7 * 86_400)] = 3600.0

    def __post_init__(self) -> None:
        if self.source is not None and self.sources:
            raise ValueError(
                "give either [instruments.source] or [[instruments.sources]], not both"
            )
        if self.source is None and not self.sources:
            raise ValueError("no source: add an [instruments.source] table with a driver")

    def all_sources(self) -> list[SourceConfig]:
        return [self.source] if self.source is not None else list(self.sources)

    def source_names(self) -> list[str]:
        names = []
        for index, source in enumerate(self.all_sources()):
            names.append(
                source.name or (source.driver if index == 0 else f"{source.driver}-{index}")
            )
        return names


@dataclass(frozen=True, kw_only=True)
class OutboxConfig:
    """``[outbox]``: the bound of the durable outbox, the replay window and when a message counts as
    replayed (historical)."""

    max_mb: Annotated[float, Bounds(gt=0, le=100_000)] = 200.0
    # Messages handed to paho at once during replay (paho's ids wrap past 65,535 in flight).
    replay_window: Annotated[int, Bounds(ge=1, le=10_000)] = 500
    # A message that waited longer than this in the outbox is sent as replayed
    # (``historical``), not live; start-up latency stays below it (DESIGN.md, wire protocol).
    historical_after_s: Annotated[float, Bounds(gt=0, le=86_400)] = 5.0

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * _MB)


@dataclass(frozen=True, kw_only=True)
class PublisherConfig:
    """What the agent (``agent.toml``) and the bridge (``bridge.toml``) configure alike: their
    site, data dir, heartbeat, log level, broker and outbox."""

    site: Identifier
    data_dir: ConfigPath | None = None
    heartbeat_interval_s: Interval = DEFAULT_HEARTBEAT_INTERVAL_S
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)

    def with_broker(self, broker: str | None) -> Self:
        """This config with ``--broker`` in place of ``mqtt.broker`` (None: unchanged)."""
        if broker is None:
            return self
        try:
            check_broker_url(broker)
        except ValueError as exc:
            raise ConfigError("command line", "--broker", str(exc)) from None
        return dataclasses.replace(self, mqtt=dataclasses.replace(self.mqtt, broker=broker))


@dataclass(frozen=True, kw_only=True)
class AgentConfig(PublisherConfig):
    """``agent.toml``: the publisher settings, polling and the instruments with their sources."""

    agent_id: Identifier | None = None
    poll_interval_s: Interval = 1.0
    instruments: Annotated[list[InstrumentConfig], Length(min=1)]

    def __post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        for instrument in self.instruments:
            key = (instrument.site or self.site, instrument.id)
            if key in seen:
                raise ValueError(f"instrument id {instrument.id!r} appears twice")
            seen.add(key)

    def agent_name(self) -> str:
        if self.agent_id:
            return self.agent_id
        host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())
        return host.strip("-.") or "agent"

    def site_of(self, instrument: InstrumentConfig) -> str:
        return instrument.site or self.site

    def heartbeat_of(self, instrument: InstrumentConfig) -> float:
        return instrument.heartbeat_interval_s or self.heartbeat_interval_s

    def poll_of(self, instrument: InstrumentConfig) -> float:
        return instrument.poll_interval_s or self.poll_interval_s
