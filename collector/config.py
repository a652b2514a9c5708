"""The collector's configuration (``collector.toml``), parsed once at the edge, frozen."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jishi import config as config_io
from jishi.agent.wire import DEFAULT_TOPIC_ROOT, ID_PATTERN, MAX_PAYLOAD_BYTES
from jishi.collector.client_id import GENERATED
from jishi.collector.reports.settings import ReportSettings
from jishi.collector.sink.config import SinkConfig
from jishi.mqtt import check_topic_root
from jishi.pydantic_config import BrokerSection, ConfigPath

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
# Ministry of Education 定额机时 defaults (DESIGN.md, "utilization").
DEFAULT_QUOTA_H = {"general": 1400.0, "specialised": 800.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectorMqtt(BrokerSection):
    """The collector's broker connection: persistent session, shared subscription, TLS."""

    reader: ClassVar[str] = "collector"

    topic_root: str = DEFAULT_TOPIC_ROOT
    # "generated": a secret id kept in data_dir (collector/client_id.py says why); resolved
    # there and nowhere else.
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = GENERATED
    # Several collectors with the same group split the stream ($share/{group}/...).
    share_group: Identifier | None = None
    # How long the broker keeps our session (and queues QoS 1 messages) while we are away.
    session_expiry_s: Annotated[int, Field(ge=60, le=2**32 - 1)] = 7 * 86_400
    # paho's network thread reconnects after a lost connection, waiting from min to max
    # (doubling); paho counts whole seconds.
    reconnect_min_s: Annotated[int, Field(ge=1, le=60)] = 1
    reconnect_max_s: Annotated[int, Field(ge=1, le=3600)] = 30

    _root = field_validator("topic_root")(check_topic_root)

    @model_validator(mode="after")
    def _reconnect(self) -> CollectorMqtt:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class DatabaseConfig(_Strict):
    """The ledger database and how ingest batches its writes."""

    # None: SQLite file ``ledger.sqlite3`` under ``data_dir``.
    url: str | None = None
    # Messages written per transaction at most; a batch also closes after ``batch_wait_s``.
    batch_max: Annotated[int, Field(ge=1, le=100_000)] = 2000
    batch_wait_s: Annotated[float, Field(ge=0, le=10)] = 0.05
    # SQLite: /api/v1/health is "degraded" when the ledger's file system has less free space
    # (a full disk fails every write; this warns before). 0: no check.
    min_free_mb: Annotated[float, Field(ge=0)] = 512.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database url must start with sqlite:/// or postgresql+psycopg://")
        config_dir = (info.context or {}).get("config_dir")
        if value is None or config_dir is None:
            return value
        return sqlite_relative_to(value, Path(config_dir))


_SQLITE_FILE = re.compile(r"^(sqlite[+\w]*:///)([^?]*)(.*)$")


def sqlite_relative_to(url: str, config_dir: Path) -> str:
    """``sqlite:///ledger.db`` in a config file means the file beside it, like every other
    relative path there (issue 14); absolute paths and in-memory databases are unchanged."""
    found = _SQLITE_FILE.match(url)
    if found is None:
        return url
    prefix, file, query = found.groups()
    if not file or file == ":memory:" or Path(file).is_absolute():
        return url
    return f"{prefix}{(config_dir / file).as_posix()}{query}"


class ApiConfig(_Strict):
    """Where the REST API listens, and how long one request may compute."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Usage and report requests stop (503, saying what to ask instead) after this long; a
    # request whose client disconnects stops at once (api/bounded.py, issue 17).
    max_request_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0


class SiteConfig(_Strict):
    """The site's time zone: day, month and year boundaries of the usage figures."""

    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; e.g. Asia/Shanghai") from None
        return value


class IngestConfig(_Strict):
    """Limits that decide what is dead-lettered (DESIGN.md, "Security")."""

    max_payload_bytes: Annotated[int, Field(ge=256, le=16 * 1024 * 1024)] = MAX_PAYLOAD_BYTES
    # An observation newer than receive time + this is a broken clock, not data.
    max_future_s: Annotated[float, Field(ge=0)] = 600.0
    # Outbox replays may be weeks old; older than this is taken as a broken clock.
    max_age_days: Annotated[float, Field(gt=0)] = 400.0
    # Closed registry: messages about instruments not in [[instruments]] are dead-lettered.
    registry_closed: bool = False
    # Open registry: new unregistered instrument ids per hour, and in all; messages about more
    # are dead-lettered as registry_limit (issue 17: 10,000 invented ids made 10,000 rows).
    max_new_instruments_per_hour: Annotated[int, Field(ge=1)] = 100
    max_unregistered_instruments: Annotated[int, Field(ge=1)] = 5000
    dead_letter_max_bytes: Annotated[int, Field(ge=0, le=1024 * 1024)] = 4096
    # An agent whose clock is off by more than this is listed in /api/v1/health (clocks_off).
    clock_warn_s: Annotated[float, Field(gt=0)] = 60.0
    # Dead letters are pruned (every minute, oldest first) beyond this age and total size.
    dead_letter_max_age_days: Annotated[float, Field(gt=0)] = 30.0
    dead_letter_max_total_mb: Annotated[float, Field(gt=0)] = 64.0
    # 1: validation and ledger writes in a worker process (a second core); 0: in process.
    workers: Literal[0, 1] = 1


class InstrumentEntry(_Strict):
    """One instrument of the registry (``[[instruments]]``): its facts and quota."""

    id: Identifier
    site: Identifier | None = None
    name: str | None = None
    unit: str | None = None
    category: Literal["general", "specialised"] = "general"
    # Yearly quota in hours; default from the category.
    quota_h: Annotated[float, Field(gt=0, le=8784)] | None = None
    inner_id: str | None = None
    stale_after_s: Annotated[float, Field(gt=0, le=7 * 86_400)] | None = None

    @property
    def yearly_quota_h(self) -> float:
        return self.quota_h if self.quota_h is not None else DEFAULT_QUOTA_H[self.category]


class PolicyConfig(_Strict):
    """Usage rules (DESIGN.md, "Usage arithmetic")."""

    merge_gap_s: Annotated[float, Field(ge=0)] = 600.0
    prep_window_s: Annotated[float, Field(ge=0)] = 0.0
    post_window_s: Annotated[float, Field(ge=0)] = 0.0

    @property
    def context_s(self) -> float:
        """How far the rules reach beyond a stretch of time (``usage.policy.Policy.context_s``)."""
        return max(self.merge_gap_s, self.prep_window_s, self.post_window_s)


class BookingFeed(_Strict):
    """A calendar feed of one instrument's bookings (``[[bookings]]``, issue 13): pulled every
    ``interval_s``; its occurrences from ``days_back`` ago to ``days_ahead`` on replace what
    the feed said before about that window."""

    name: Identifier
    instrument: Identifier
    url: Annotated[str, Field(min_length=1, description="http(s) URL or a file path")]
    interval_s: Annotated[float, Field(ge=60)] = 900.0
    days_back: Annotated[float, Field(ge=0, le=400)] = 30.0
    days_ahead: Annotated[float, Field(ge=0, le=400)] = 90.0


class CollectorConfig(_Strict):
    """``collector.toml``, validated once at start (errors name file, key and problem)."""

    # Relative: to the config file's folder (validated even as the default, for that).
    data_dir: Annotated[ConfigPath, Field(validate_default=True)] = Path("./.jishi-collector")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mqtt: CollectorMqtt = Field(default_factory=CollectorMqtt)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    site: SiteConfig = Field(default_factory=SiteConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    instruments: list[InstrumentEntry] = Field(default_factory=list)
    bookings: list[BookingFeed] = Field(default_factory=list)
    # [influx]: mirror into InfluxDB for Grafana (docs/dashboards.md); absent = no mirror.
    influx: SinkConfig | None = None

    @model_validator(mode="after")
    def _unique(self) -> CollectorConfig:
        seen: set[str] = set()
        for entry in self.instruments:
            if entry.id in seen:
                raise ValueError(f"instrument id {entry.id!r} appears twice")
            seen.add(entry.id)
        names = [feed.name for feed in self.bookings]
        if len(set(names)) != len(names):
            raise ValueError("[[bookings]] names must be unique")
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'ledger.sqlite3').resolve()}"

    def registry(self) -> dict[str, InstrumentEntry]:
        return {entry.id: entry for entry in self.instruments}


def load_collector_config(path: Path) -> CollectorConfig:
    """Parse and validate ``collector.toml``; errors name the file, the key and the problem."""
    # Relative paths (data_dir, a SQLite file, secrets, TLS files, the spool) are taken from
    # the file's folder, not from wherever the command was started (jishi/config.py).
    config, _digest = config_io.load(path, CollectorConfig)
    return config


def apply_overrides(config: CollectorConfig, args: argparse.Namespace) -> CollectorConfig:
    """``--broker``, ``--db`` and ``--api-port`` override the file (validated again)."""
    data = config.model_dump()
    if getattr(args, "broker", None):
        data["mqtt"]["broker"] = args.broker
    if getattr(args, "db", None):
        data["database"]["url"] = args.db
    if getattr(args, "api_port", None) is not None:
        data["api"]["port"] = args.api_port
    return config_io.validate("command line", CollectorConfig, data)


def config_from_args(args: argparse.Namespace) -> CollectorConfig:
    """The config every ``jishi collector`` and ``jishi report`` command starts from: the file
    of ``-c`` with the command line's overrides."""
    return apply_overrides(load_collector_config(Path(args.config)), args)
