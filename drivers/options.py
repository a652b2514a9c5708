"""Typed reading of a driver's config options: each getter names the key and the problem.

Drivers receive their ``[instruments.source]`` table as a plain mapping; these helpers turn it
into typed values once, at construction, so a wrong option is reported at agent start with the
key a technician has to fix (DESIGN.md, "Config").
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jishi.drivers.base import DriverConfigError

# Options the agent adds to every source; drivers that do not use them ignore them.
AGENT_OPTIONS = frozenset({"state_dir", "config_dir"})


class Options:
    """A source's options with the source name for error messages; tracks keys used."""

    def __init__(self, source: str, raw: Mapping[str, Any]) -> None:
        self.source = source
        self.raw = dict(raw)
        self._used: set[str] = set(AGENT_OPTIONS)

    def where(self, key: str) -> str:
        return f"source {self.source!r}: {key}"

    def error(self, key: str, problem: str) -> DriverConfigError:
        return DriverConfigError(f"{self.where(key)}: {problem}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = None) -> Any:
        self._used.add(key)
        return self.raw.get(key, default)

    def text(self, key: str, default: str | None = None, *, choices: Collection[str] = ()) -> str:
        value = self.opt_text(key, default, choices=choices)
        if value is None:
            raise self.error(key, "is required")
        return value

    def opt_text(
        self, key: str, default: str | None = None, *, choices: Collection[str] = ()
    ) -> str | None:
        value = self.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected text, got {value!r}")
        if choices and value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(sorted(choices))}")
        return value

    def integer(
        self, key: str, default: int, *, lo: int | None = None, hi: int | None = None
    ) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        self._check_range(key, value, lo, hi)
        return value

    def number(
        self, key: str, default: float, *, lo: float | None = None, hi: float | None = None
    ) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        self._check_range(key, value, lo, hi)
        return float(value)

    def _check_range(self, key: str, value: float, lo: float | None, hi: float | None) -> None:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(key, f"must be between {lo} and {hi}, got {value}")

    def opt_number(self, key: str) -> float | None:
        if self.get(key) is None:
            return None
        return self.number(key, 0.0)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def str_list(self, key: str, default: Sequence[str] = ()) -> list[str]:
        value = self.get(key, list(default))
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of text, got {value!r}")
        return list(value)

    def table_list(self, key: str) -> list[dict[str, Any]]:
        value = self.get(key, [])
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error(key, "expected a list of tables ([[...]] in TOML)")
        return [dict(v) for v in value]

    def path(self, key: str) -> Path | None:
        """A path option; relative paths are taken from the config file's folder when the
        agent passes ``config_dir``."""
        value = self.opt_text(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        base = self.raw.get("config_dir")
        if not path.is_absolute() and isinstance(base, str | Path):
            path = Path(base) / path
        return path

    def state_dir(self) -> Path | None:
        """Where the driver may keep state across restarts (the agent's data dir)."""
        value = self.raw.get("state_dir")
        if value is None:
            return None
        if not isinstance(value, str | Path):
            raise self.error("state_dir", f"expected a folder path, got {value!r}")
        return Path(value)

    def check_unused(self) -> None:
        """Reject unknown keys (a typo must not silently fall back to a default)."""
        unknown = sorted(set(self.raw) - self._used - {"driver", "name"})
        if unknown:
            raise self.error(unknown[0], "unknown option")


def load_profile_tables(
    package_file: str, user_file: Path | None, where: str
) -> dict[str, dict[str, Any]]:
    """Built-in profiles from ``jishi.drivers.profiles/<package_file>``, extended (or
    overridden by name) by a user TOML file; ``extends = "name"`` copies another profile's
    keys first."""
    text = resources.files("jishi.drivers.profiles").joinpath(package_file).read_text("utf-8")
    tables: dict[str, dict[str, Any]] = dict(tomllib.loads(text))
    if user_file is not None:
        try:
            user = tomllib.loads(user_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DriverConfigError(f"{where}: cannot read {user_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise DriverConfigError(f"{where}: {user_file} is not valid TOML: {exc}") from None
        tables.update(user)
    resolved: dict[str, dict[str, Any]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in resolved:
            return resolved[name]
        if name in chain:
            raise DriverConfigError(f"{where}: profile {name!r} extends itself")
        table = tables.get(name)
        if not isinstance(table, dict):
            raise DriverConfigError(
                f"{where}: unknown profile {name!r}; available: {', '.join(sorted(tables))}"
            )
        parent = table.get("extends")
        merged: dict[str, Any] = {}
        if isinstance(parent, str):
            merged.update(resolve(parent, (*chain, name)))
            # Lists of registers/rules add to the parent's; an entry with the same name
            # replaces the parent's (DDS238 v1 moves two energy registers).
            for key, value in table.items():
                inherited = merged.get(key)
                merged[key] = (
                    merge_named(inherited, value)
                    if isinstance(value, list) and isinstance(inherited, list)
                    else value
                )
            merged.pop("extends", None)
        else:
            merged = dict(table)
        resolved[name] = merged
        return merged

    for name in tables:
        resolve(name, ())
    return resolved


def merge_named(parent: list[Any], child: list[Any]) -> list[Any]:
    """Parent entries, with child entries of the same ``name`` replacing them, then the rest."""
    names = {item.get("name") for item in child if isinstance(item, dict) and "name" in item}
    kept = [item for item in parent if not (isinstance(item, dict) and item.get("name") in names)]
    return [*kept, *child]
