"""Loading TOML config files into frozen pydantic models, with errors that name the file, the
key and the problem (DESIGN.md, "Outside interfaces")."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jishi.errors import ConfigError, ConfigErrors
from jishi.mqtt import BrokerUrl, check_broker_url

M = TypeVar("M", bound=BaseModel)


def key_path(loc: tuple[int | str, ...]) -> str:
    """``("instruments", 0, "rules", "min_dwell_s")`` -> ``instruments[0].rules.min_dwell_s``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "(top level)"


def _problem(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against the docs)"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if "input" in error and kind not in {"model_type", "dict_type"} and not _secret(error):
        message += f" (got {error['input']!r})"
    return message


# Keys whose value may hold a secret (a password in a URL, a token): never echoed in errors.
_SECRET_KEYS = ("broker", "url", "password", "token", "secret")


def _secret(error: Any) -> bool:
    return any(str(part).endswith(_SECRET_KEYS) for part in error.get("loc", ()))


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    # A service runs in its data dir, a technician's check wherever the shell was: a relative
    # path in a config file must mean the same to both (issue 14), so it is taken from the
    # config file's folder, passed in by :func:`validate` as ``config_dir``.
    value = value.expanduser()
    base = (info.context or {}).get("config_dir")
    if base is not None and not value.is_absolute():
        return Path(base) / value
    return value


# A file or folder named in a config file: relative paths are relative to the file's folder.
ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


def read_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    """Read a TOML file; raises :class:`ConfigError` naming the file and the syntax problem."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            None,
            "file not found",
            f"looked for {path.absolute()}; check the path given with -c",
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "not UTF-8 text", "save the file as UTF-8") from None
    try:
        return tomllib.loads(text), data
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(str(path), text, exc) from None


def syntax_error(file: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """The syntax error as a :class:`ConfigError`; a backslash in a double-quoted string (a
    Windows path, ``"C:\\ProgramData\\XRD"``) is an escape in TOML, so that case gets a hint."""
    line_no = _error_line(str(exc))
    lines = text.splitlines()
    line = lines[line_no - 1] if line_no is not None and 0 < line_no <= len(lines) else ""
    hint = None
    if "\\" in line and '"' in line:
        hint = (
            f"line {line_no}: in double quotes a backslash starts an escape; write a Windows "
            'path with / ("C:/ProgramData/XRD/Logs") or in single quotes '
            "('C:\\ProgramData\\XRD\\Logs')"
        )
    return ConfigError(file, None, f"TOML syntax error: {exc}", hint)


def _error_line(message: str) -> int | None:
    """The line number tomllib puts in its messages: ``... (at line 3, column 12)``."""
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


def validate(file: str, model: type[M], data: dict[str, Any], config_dir: Path | None = None) -> M:
    """Validate parsed TOML into ``model``; all problems are reported at once. Relative
    :data:`ConfigPath` values are joined to ``config_dir`` (None: left as they are)."""
    try:
        return model.model_validate(data, context={"config_dir": config_dir})
    except ValidationError as exc:
        errors = [
            ConfigError(file, key_path(tuple(error["loc"])), _problem(error))
            for error in exc.errors()
        ]
        raise ConfigErrors(errors) from None


def load(path: Path, model: type[M]) -> tuple[M, str]:
    """Read and validate a config file; returns the model and a short hash of the file."""
    data, raw = read_toml(path)
    return validate(str(path), model, data, path.resolve().parent), config_hash(raw)


def config_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]


def read_secret(file: Path | None, env: str | None, key: str, who: str) -> str | None:
    """A password or token from the first line of ``file`` or the environment variable
    ``env`` (never from the command line). ``key`` is the config key without its ``_file`` /
    ``_env`` suffix (``mqtt.password``); ``who`` names the program for the hint."""
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(str(file), f"{key}_file", f"cannot read: {exc.strerror}") from None
        return lines[0].strip() if lines else ""
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(
                "environment",
                f"{key}_env",
                f"variable {env} is not set",
                f"set {env} before starting the {who}",
            )
        return value
    return None


class BrokerSection(BaseModel):
    """What every ``[mqtt]`` table has (agent, bridge, collector): the broker URL, protocol,
    user, password (from a file or a variable, never the command line), keep-alive and TLS
    files. Each part adds its own keys and its ``topic_root``."""

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
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be given together")
        if self.password_file and self.password_env:
            raise ValueError("give password_file or password_env, not both")
        return self

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl.parse(self.broker)

    def password(self) -> str | None:
        """Read the password from its file or environment variable, when it is asked for."""
        return read_secret(self.password_file, self.password_env, "mqtt.password", self.reader)
