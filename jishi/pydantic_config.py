"""The pieces of config loading that are pydantic types: for the collector's config models.

The agent and the bridge check their configs with :mod:`jishi.tables` (no pydantic: issue 14,
agent memory); the collector's ``collector.toml`` stays pydantic models built from these.
``tests/test_config_tables.py`` checks that both ``[mqtt]`` tables take the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jishi.config import read_secret
from jishi.mqtt import BrokerUrl, check_broker_pairs, check_broker_url
from jishi.tables import RELATIVE


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    # The same rule as the agent's (jishi.tables.RELATIVE): relative to the config file's
    # folder, passed in by jishi.config.validate as ``config_dir``.
    return RELATIVE(value, (info.context or {}).get("config_dir"))


# A file or folder named in a config file: relative paths are relative to the file's folder.
ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


class BrokerSection(BaseModel):
    """What the collector's ``[mqtt]`` table has in common with the agent's and the bridge's
    (:class:`jishi.agent.config.MqttConfig`): the broker URL, protocol, user, password (from a
    file or a variable, never the command line), keep-alive and TLS files."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Which program reads the password (for the error message when it cannot).
    reader: ClassVar[str] = "jishi"

    broker: str = "mqtt://127.0.0.1:1883"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password_file: ConfigPath | None = None
    password_env: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    tls_ca_file: ConfigPath | None = None
    tls_cert_file: ConfigPath | None = None
    tls_key_file: ConfigPath | None = None

    _broker_url = field_validator("broker")(check_broker_url)

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        check_broker_pairs(
            self.tls_cert_file, self.tls_key_file, self.password_file, self.password_env
        )
        return self

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl.parse(self.broker)

    def password(self) -> str | None:
        """Read the password from its file or environment variable, when it is asked for."""
        return read_secret(self.password_file, self.password_env, "mqtt.password", self.reader)
