"""Building blocks for the sub-command modules (``agent/cli.py``, ``collector/cli.py``, ...).

A sub-command names its handler as ``"module:function"``; the module is imported only when the
command runs, so ``jishi agent ...`` never loads FastAPI and ``jishi --help`` loads nothing
heavy. ``tests/test_cli.py`` resolves every handler target, so a misspelt one fails the tests
rather than a technician's command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeAlias

from jishi.i18n import N_, _, columns, known_phrase, wrap

Handler = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Parser(argparse.ArgumentParser):
    """argparse with its own words (``usage:``, ``options``, the help option, ``error:``) in
    the reader's language; its sub-commands' parsers are of this class too (argparse makes
    them of the parent's type). The texts of argparse's errors themselves stay English."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = _("show this help message and exit")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        message = known_phrase(message, _ARGPARSE_PHRASES)
        self.exit(2, _("{prog}: error: {message}").format(prog=self.prog, message=message) + "\n")


# The messages of argparse a technician meets most (Lib/argparse.py), as known_phrase patterns.
_ARGPARSE_PHRASES = [
    (
        r"the following arguments are required: (?P<names>.+)",
        N_("the following arguments are required: {names}"),
    ),
    (r"unrecognized arguments: (?P<names>.+)", N_("unrecognized arguments: {names}")),
    (
        r"argument (?P<name>.+?): invalid choice: (?P<value>.+) \(choose from (?P<choices>.+)\)",
        N_("argument {name}: invalid choice: {value} (choose from {choices})"),
    ),
    (
        r"argument (?P<name>.+?): expected one argument",
        N_("argument {name}: expected one argument"),
    ),
    (
        r"argument (?P<name>.+?): invalid (?P<kind>\w+) value: (?P<value>.+)",
        N_("argument {name}: invalid {kind} value: {value}"),
    ),
]


class _Formatter(argparse.HelpFormatter):
    """Usage in the reader's language, help texts wrapped by console columns (Chinese
    characters take two)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        if columns(text) == len(text):
            return super()._split_lines(text, width)
        return wrap(" ".join(text.split()), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if columns(text) == len(text):
            return super()._fill_text(text, width, indent)
        return "\n".join(wrap(" ".join(text.split()), width, indent, indent))

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None = None,
    ) -> None:
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)


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
