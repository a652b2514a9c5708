"""Registry of driver factories: a plain dict that rejects duplicates (no import-by-name magic,
which breaks frozen Windows builds). Factories import their heavy dependencies lazily so the
agent only pays for the drivers its config uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jishi.drivers.base import Driver, DriverConfigError

DriverFactory = Callable[[str, Mapping[str, Any]], Driver]

_FACTORIES: dict[str, DriverFactory] = {}


def register(kind: str, factory: DriverFactory) -> None:
    """Register a factory under ``kind``; registering the same kind twice is a bug."""
    if kind in _FACTORIES:
        raise ValueError(f"driver {kind!r} is already registered")
    _FACTORIES[kind] = factory


def kinds() -> list[str]:
    _ensure_builtin()
    return sorted(_FACTORIES)


def create(kind: str, name: str, options: Mapping[str, Any]) -> Driver:
    """Build a driver of ``kind`` named ``name`` from its config options."""
    _ensure_builtin()
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise DriverConfigError(
            f"unknown driver {kind!r}; available: {', '.join(sorted(_FACTORIES))}"
        ) from None
    return factory(name, options)


_BUILTIN_LOADED = False


def _ensure_builtin() -> None:
    global _BUILTIN_LOADED  # noqa: PLW0603 - one-time registration of the built-in drivers
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    from jishi.drivers import builtin

    builtin.register_all(register)
