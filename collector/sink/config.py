"""The ``[influx]`` section of ``collector.toml``: where and how the sink writes (frozen model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jishi.config import read_secret
from jishi.pydantic_config import ConfigPath

DEFAULT_SPOOL_NAME = "influx-spool.sqlite"


class SinkConfig(BaseModel):
    """InfluxDB mirror settings. ``api = "v2"`` writes through ``influxdb-client`` to
    ``/api/v2/write`` (InfluxDB 2.x, 3.x, 1.8+ and VictoriaMetrics: url, token, org, bucket);
    ``api = "v1"`` posts to ``/write`` (InfluxDB 1.x: database, retention policy, user,
    password). Secrets come from a file (first line) or an environment variable, never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    api: Literal["v1", "v2"] = "v1"
    url: str = "http://127.0.0.1:8086"
    # v2
    org: str = ""
    bucket: str = ""
    token_file: ConfigPath | None = None
    token_env: str | None = None
    # v1
    database: str = "jishi"
    retention_policy: str | None = None
    username: str | None = None
    password_file: ConfigPath | None = None
    password_env: str | None = None
    # Behaviour
    spool_path: ConfigPath | None = None  # default: <collector data dir>/influx-spool.sqlite
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000
    flush_interval_s: Annotated[float, Field(gt=0, le=300)] = 1.0
    spool_interval_s: Annotated[float, Field(gt=0, le=10)] = 0.2
    retry_min_s: Annotated[float, Field(gt=0, le=600)] = 1.0
    retry_max_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    max_spool_points: Annotated[int, Field(ge=1000)] = 5_000_000
    # A fresh instrument's state is re-asserted at most this often (from heartbeats).
    state_refresh_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    # How far back state points are remembered so that late data can rewrite them.
    state_index_days: Annotated[float, Field(gt=0, le=3660)] = 35.0
    self_report_interval_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    collector_name: str = "collector"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("url must be http://host:port or https://host:port")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _api_keys(self) -> SinkConfig:
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("retry_max_s must be at least retry_min_s")
        if self.enabled and self.api == "v2" and not (self.org and self.bucket):
            raise ValueError('api = "v2" needs org and bucket')
        if self.enabled and self.api == "v1" and not self.database:
            raise ValueError('api = "v1" needs database')
        return self

    def spool_file(self, data_dir: Path) -> Path:
        return self.spool_path or data_dir / DEFAULT_SPOOL_NAME

    def _secret(self, file: Path | None, env: str | None, key: str) -> str | None:
        # Read once at start-up (the config edge); the sink gets plain strings.
        return read_secret(file, env, f"influx.{key}", "collector")

    def token(self) -> str | None:
        return self._secret(self.token_file, self.token_env, "token")

    def password(self) -> str | None:
        return self._secret(self.password_file, self.password_env, "password")
