"""``jishi collector ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from jishi.collector.service import run_from_args

    return run_from_args(args)


def _check(args: argparse.Namespace) -> int:
    from jishi.collector.admin import check

    return check(args)


def _token(args: argparse.Namespace) -> int:
    from jishi.collector.admin import token

    return token(args)


def _import_sessions(args: argparse.Namespace) -> int:
    from jishi.collector.admin import import_sessions

    return import_sessions(args)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="collector.toml")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="override the ledger URL (sqlite:///... or postgresql+psycopg://...)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    collector = sub.add_parser(
        "collector",
        help="run the collector (MQTT ingest, ledger, usage API)",
        description="The collector subscribes to agents' MQTT messages, stores them in the "
        "ledger and serves the usage API.",
    )
    collector.set_defaults(help_parser=collector)
    commands = collector.add_subparsers(dest="collector_command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="ingest from the broker and serve the API",
        description="Ingest agent messages from the MQTT broker into the ledger and serve the "
        "REST API. The admin bearer token may be given in the environment variable "
        "JISHI_ADMIN_TOKEN.",
    )
    _common(run)
    run.add_argument(
        "--broker", metavar="URL", help="override mqtt.broker, e.g. mqtt://127.0.0.1:1883"
    )
    run.add_argument("--api-port", type=int, metavar="P", help="override api.port")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check",
        help="validate collector.toml and migrate the ledger",
        description="Validate the config file, open the ledger and bring its schema up to date.",
    )
    _common(check)
    check.set_defaults(handler=_check)

    _register_tokens(commands)
    _register_sessions(commands)


def _register_tokens(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser(
        "token",
        help="manage API bearer tokens (create, list, revoke)",
        description="API tokens have a role: read (GET routes), write (sessions), admin. "
        "They are stored hashed; the clear text is shown once, at creation.",
    )
    token.set_defaults(help_parser=token)
    actions = token.add_subparsers(dest="token_command", metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it once")
    _common(create)
    create.add_argument("--name", required=True, help="who or what uses the token")
    create.add_argument("--role", choices=("read", "write", "admin"), default="read")
    create.set_defaults(handler=_token)
    listing = actions.add_parser("list", help="list tokens (never their clear text)")
    _common(listing)
    listing.set_defaults(handler=_token)
    revoke = actions.add_parser("revoke", help="revoke a token by id or name")
    _common(revoke)
    revoke.add_argument("ident", metavar="ID_OR_NAME")
    revoke.set_defaults(handler=_token)


def _register_sessions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = commands.add_parser(
        "import-sessions",
        help="import user sessions from a booking-system CSV (all rows or none)",
        description="Columns: instrument, start, end (required), user, org, user_type "
        "(internal/external/staff), service_way, direction, satisfaction, sample_count, "
        "session_id. Times ISO 8601; without an offset they are site local time.",
    )
    _common(sessions)
    sessions.add_argument("file", metavar="FILE", help="CSV file (UTF-8)")
    sessions.set_defaults(handler=_import_sessions)
