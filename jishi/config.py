"""Loading TOML config files into frozen models, with errors that name the file, the key and the
problem (DESIGN.md, "Outside interfaces").

The agent's and the bridge's models are dataclasses checked by :mod:`jishi.tables`
(:func:`load_table`); the collector's are pydantic models (:func:`load`). Both kinds of
problem reach the user through :func:`config_errors`. This module does not import pydantic.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jishi import tables
from jishi.errors import ConfigError, ConfigErrors
from jishi.i18n import _, validator_message

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")
T = TypeVar("T")


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
    """What is wrong with a key, in the reader's language (issue 19): our own words, and the
    validators' messages where they are phrases :func:`validator_message` knows."""
    kind = error.get("type", "")
    if kind == "missing":
        return _("required key is missing")
    if kind == "extra_forbidden":
        return _("unknown key (check the spelling against the docs)")
    message = str(error.get("msg") or _("invalid value"))
    message = validator_message(message.removeprefix("Value error, "))
    if "input" in error and kind not in {"model_type", "dict_type"} and not _secret(error):
        message += _(" (got {value})").format(value=repr(error["input"]))
    return message


# Keys whose value may hold a secret (a password in a URL, a token): never echoed in errors.
_SECRET_KEYS = ("broker", "url", "password", "token", "secret")


def _secret(error: Any) -> bool:
    return any(str(part).endswith(_SECRET_KEYS) for part in error.get("loc", ()))


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


def config_errors(file: str, errors: Iterable[Mapping[str, Any]]) -> ConfigErrors:
    """Problems as pydantic and :mod:`jishi.tables` report them (``loc``, ``type``, ``msg``,
    ``input``) as one error naming the file, and for each problem the key and what is wrong."""
    return ConfigErrors(
        [ConfigError(file, key_path(tuple(error["loc"])), _problem(error)) for error in errors]
    )


def validate(file: str, model: type[M], data: dict[str, Any], config_dir: Path | None = None) -> M:
    """Validate parsed TOML into a pydantic ``model``; all problems are reported at once.
    Relative ``ConfigPath`` values are joined to ``config_dir`` (None: left as they are)."""
    try:
        return model.model_validate(data, context={"config_dir": config_dir})
    except ValueError as exc:
        # pydantic's ValidationError is a ValueError with .errors(); caught by that shape so
        # that this module (which the agent imports) does not import pydantic.
        if not callable(getattr(exc, "errors", None)):
            raise
        raise config_errors(file, exc.errors()) from None  # type: ignore[attr-defined]


def validate_table(file: str, cls: type[T], data: Any, config_dir: Path | None = None) -> T:
    """Parsed TOML as the config dataclass ``cls`` (:mod:`jishi.tables`); all problems at once."""
    try:
        return tables.parse(cls, data, config_dir)
    except tables.TableError as exc:
        raise config_errors(file, exc.errors) from None


def load(path: Path, model: type[M]) -> tuple[M, str]:
    """Read and validate a config file; returns the model and a short hash of the file."""
    data, raw = read_toml(path)
    return validate(str(path), model, data, path.resolve().parent), config_hash(raw)


def load_table(path: Path, cls: type[T]) -> tuple[T, str]:
    """:func:`load` for a config dataclass (the agent's and the bridge's)."""
    data, raw = read_toml(path)
    return validate_table(str(path), cls, data, path.resolve().parent), config_hash(raw)


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
