"""Building blocks for the sub-command modules (``agent/cli.py``, ``collector/cli.py``, ...).

A sub-command names its handler as ``"module:function"``; the module is imported only when the
command runs, so ``jishi agent ...`` never loads FastAPI and ``jishi --help`` loads nothing
heavy. ``tests/test_cli.py`` resolves every handler target, so a misspelt one fails the tests
rather than a technician's command.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any, TypeAlias

from jishi.i18n import _

Handler = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class LazyHandler:
    """Calls ``module:function`` with the parsed arguments, importing the module on first use."""

    def __init__(self, target: str) -> None:
        module, sep, function = target.partition(":")
        if not sep or not module or not function:
            raise ValueError(f"handler target must be 'module:function', got {target!r}")
        self.target = target
        self._module = module
        self._function = function

    def resolve(self) -> Handler:
        """The function itself (imports its module)."""
        function: Handler = getattr(importlib.import_module(self._module), self._function)
        return function

    def __call__(self, args: argparse.Namespace) -> int:
        return self.resolve()(args)

    def __repr__(self) -> str:
        return f"LazyHandler({self.target!r})"


def group(
    sub: Commands, name: str, *, summary: str, description: str, dest: str, metavar: str = "COMMAND"
) -> Commands:
    """A command with sub-commands (``jishi agent``); given alone it prints its own help."""
    parser = sub.add_parser(name, help=summary, description=description)
    parser.set_defaults(help_parser=parser)
    commands: Commands = parser.add_subparsers(dest=dest, metavar=metavar)
    return commands


def command(
    commands: Commands,
    name: str,
    *,
    summary: str,
    handler: str,
    description: str | None = None,
    **defaults: Any,
) -> argparse.ArgumentParser:
    """A leaf command run by ``handler`` ("module:function"); ``defaults`` go into its args."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description or summary
    )
    parser.set_defaults(handler=LazyHandler(handler), **defaults)
    return parser


def config_option(parser: argparse.ArgumentParser, file: str, *, required: bool = True) -> None:
    """``-c/--config FILE``: the TOML file the command reads."""
    parser.add_argument("-c", "--config", required=required, metavar="FILE", help=file)


def broker_option(parser: argparse.ArgumentParser) -> None:
    """``--broker URL``: overrides ``mqtt.broker`` of the config."""
    parser.add_argument(
        "--broker", metavar="URL", help=_("override mqtt.broker, e.g. mqtt://127.0.0.1:1883")
    )


def ledger_options(parser: argparse.ArgumentParser) -> None:
    """``-c collector.toml`` and ``--db URL``: what every ledger command needs."""
    config_option(parser, "collector.toml")
    parser.add_argument(
        "--db",
        metavar="URL",
        help=_("override the ledger URL (sqlite:///... or postgresql+psycopg://...)"),
    )


def handlers(parser: argparse.ArgumentParser) -> list[LazyHandler]:
    """Every handler reachable from ``parser`` (for the test that resolves them all)."""
    found: list[LazyHandler] = []
    default = parser.get_default("handler")
    if isinstance(default, LazyHandler):
        found.append(default)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(handlers(child))
    return found
