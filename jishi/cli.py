"""The ``jishi`` command: one entry point with sub-commands per part (DESIGN.md, "Layout").

Each part registers its own sub-commands from a small module that imports nothing heavy; the
handler imports what it needs when it runs, so ``jishi agent ...`` never loads FastAPI.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from jishi import __version__
from jishi.cli_parts import Parser
from jishi.errors import (
    EXTRA_OF_COMMAND,
    MISSING_PACKAGE,
    ConfigError,
    JishiError,
    config_error_text,
    missing_package,
)
from jishi.i18n import LANG_CHOICES, _, set_language

Handler = Callable[[argparse.Namespace], int]


def _schema(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from jishi.agent.wire import json_schemas

    schemas = json_schemas()
    if args.out is None:
        json.dump(schemas, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for kind, schema in schemas.items():
        path = out / f"{kind}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(_("wrote {path}").format(path=path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="jishi",
        description=_(
            "jishi (机时) measures how much large scientific instruments are really used: an "
            "agent beside each instrument publishes its run-state over MQTT, a collector stores "
            "it and serves effective machine-hours through a REST API."
        ),
        epilog=_("Run 'jishi demo' to see every part working together on this machine."),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"jishi {__version__}",
        help=_("show the version and exit"),
    )
    parser.add_argument(
        "--lang",
        choices=tuple(LANG_CHOICES),
        help=_(
            "language of messages: en or zh (简体中文); default from LANG / LC_ALL, else English"
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # Explicit imports of the small command modules, no discovery by name. Their handlers are
    # "module:function" names imported on use (jishi/cli_parts.py); a frozen build must list
    # the jishi package whole, and tests/test_cli.py resolves every handler.
    from jishi import demo_cli
    from jishi.agent import cli as agent_cli
    from jishi.collector import cli as collector_cli
    from jishi.collector import report_cli
    from jishi.firmware_bridge import cli as bridge_cli

    for part in (demo_cli, agent_cli, collector_cli, bridge_cli, report_cli):
        part.register(sub)

    schema = sub.add_parser(
        "schema",
        help=_("write the JSON Schema of every wire message"),
        description=_("Write the JSON Schema of every MQTT message (status, state, hb, session)."),
    )
    schema.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        help=_(
            "write one <kind>.schema.json per message into DIR "
            "(default: all schemas as one JSON object on stdout)"
        ),
    )
    schema.set_defaults(handler=_schema)
    return parser


def language_option(argv: Sequence[str]) -> str | None:
    """The value of the global ``--lang`` option, read before the parser is built: its help
    texts are already in the chosen language. Only options before the sub-command count."""
    for index, arg in enumerate(argv):
        if not arg.startswith("-"):
            return None
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    set_language(language_option(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        # A group without its sub-command (``jishi agent``) prints that group's help.
        help_parser = getattr(args, "help_parser", parser)
        help_parser.print_help()
        return 2
    try:
        code = _run(handler, args)
        # Flushed here, where a reader that has gone (``| head -1``) can still be handled.
        # (pythonw and some service wrappers start us with no stdout at all: None.)
        stdout: TextIO | None = sys.stdout
        if stdout is not None:
            stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return code


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """The handler, with jishi's errors and a missing optional library as one-line messages."""
    try:
        return handler(args)
    except ConfigError as exc:
        print(_("error: {problem}").format(problem=config_error_text(exc)), file=sys.stderr)
        return 2
    except JishiError as exc:
        print(_("error: {problem}").format(problem=exc), file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == "jishi":
            raise  # our own module missing is a broken install or a bug: keep the traceback
        extra = EXTRA_OF_COMMAND.get(getattr(args, "command", None) or "", "all")
        advice = missing_package(exc, extra, _(MISSING_PACKAGE))
        print(_("error: {problem}").format(problem=advice), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# The exit status of a command whose reader closed the pipe: 128 + SIGPIPE, as for any Unix
# command killed by it (``yes | head -1``).
CLOSED_PIPE_EXIT = 141


def _reader_gone() -> int:
    """Stdout's reader closed the pipe: stop quietly. Python would report the failed flush
    again at exit, so stdout is pointed at the null device first (Python docs, "Note on
    SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is not a file descriptor (a test's capture): nothing is flushed at exit
    return CLOSED_PIPE_EXIT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
