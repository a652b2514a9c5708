"""``jishi collector ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse

from jishi.cli_parts import Commands, broker_option, command, group, ledger_options


def register(sub: Commands) -> None:
    commands = group(
        sub,
        "collector",
        summary="run the collector (MQTT ingest, ledger, usage API)",
        description="The collector subscribes to agents' MQTT messages, stores them in the "
        "ledger and serves the usage API.",
        dest="collector_command",
    )
    run = command(
        commands,
        "run",
        summary="ingest from the broker and serve the API",
        description="Ingest agent messages from the MQTT broker into the ledger and serve the "
        "REST API. The admin bearer token may be given in the environment variable "
        "JISHI_ADMIN_TOKEN.",
        handler="jishi.collector.run:run_from_args",
    )
    ledger_options(run)
    broker_option(run)
    run.add_argument("--api-port", type=int, metavar="P", help="override api.port")
    _create_ledger_option(run)
    check = command(
        commands,
        "check",
        summary="validate collector.toml, migrate the ledger, test the broker and InfluxDB",
        description="Validate the config file, open the ledger and bring its schema up to date, "
        "then connect to the broker with the configured credentials and TLS, and write an "
        "empty batch to InfluxDB when [influx] is configured. Exits non-zero with what to fix "
        "when anything fails.",
        handler="jishi.collector.admin:check",
    )
    ledger_options(check)
    broker_option(check)
    _create_ledger_option(check)
    check.add_argument("--no-broker", action="store_true", help="skip the broker test")
    check.add_argument("--no-influx", action="store_true", help="skip the InfluxDB test")
    check.add_argument(
        "--no-feeds", action="store_true", help="skip reading the [[bookings]] calendar feeds"
    )
    _register_tokens(commands)
    _register_sessions(commands)


def _create_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create-ledger",
        action="store_true",
        help="if the SQLite ledger file exists but is empty or not a database, keep it aside "
        "as .bad-<time> and create a new ledger (without this the collector refuses to start)",
    )


def _register_tokens(commands: Commands) -> None:
    actions = group(
        commands,
        "token",
        summary="manage API bearer tokens (create, list, revoke)",
        description="API tokens have a role: read (GET routes), write (sessions), admin. "
        "They are stored hashed; the clear text is shown once, at creation.",
        dest="token_command",
        metavar="ACTION",
    )
    manage = "jishi.collector.admin:token"
    create = command(actions, "create", summary="create a token and print it once", handler=manage)
    ledger_options(create)
    create.add_argument("--name", required=True, help="who or what uses the token")
    create.add_argument("--role", choices=("read", "write", "admin"), default="read")
    listing = command(
        actions, "list", summary="list tokens (never their clear text)", handler=manage
    )
    ledger_options(listing)
    revoke = command(actions, "revoke", summary="revoke a token by id or name", handler=manage)
    ledger_options(revoke)
    revoke.add_argument("ident", metavar="ID_OR_NAME")


# The import commands: name, summary, description, file help. Each reads one file, stores
# all of it or nothing, and prints every bad row (jishi.collector.admin).
IMPORTS = (
    (
        "import-sessions",
        "import user sessions from a booking-system CSV (all rows or none)",
        "Columns: instrument, start, end (required), user, org, user_type "
        "(internal/external/staff), service_way, direction, satisfaction, sample_count, "
        "session_id. Times ISO 8601; without an offset they are site local time.",
        "CSV file (UTF-8 or GBK/GB18030)",
    ),
    (
        "import-directory",
        "import the user directory from a CSV (all rows or none; docs/sessions.md)",
        "Columns (English or Chinese): account/账号, user_type/用户类型 (required), "
        "card/卡号, email/邮箱, person/姓名, org/单位, unit/管理单位. Entries are stored by "
        "account; figures computed afterwards use them, past periods included.",
        "CSV file (UTF-8 or GBK/GB18030)",
    ),
    (
        "import-bookings",
        "import bookings from a CSV or an iCalendar (.ics) file (docs/sessions.md)",
        "CSV columns: instrument, start, end (required), user, title, booking_id. "
        "An .ics file is one instrument's calendar: give --instrument and --feed (its name); "
        "its occurrences in the window replace what that feed said before.",
        "CSV (UTF-8 or GBK) or .ics file",
    ),
)


def _register_sessions(commands: Commands) -> None:
    for name, summary, description, file_help in IMPORTS:
        parser = command(
            commands,
            name,
            summary=summary,
            description=description,
            handler=f"jishi.collector.admin:{name.replace('-', '_')}",
        )
        ledger_options(parser)
        parser.add_argument("file", metavar="FILE", help=file_help)
    bookings = commands.choices["import-bookings"]
    bookings.add_argument("--instrument", metavar="ID", help=".ics: the instrument it books")
    bookings.add_argument("--feed", metavar="NAME", help=".ics: the calendar's name")
    bookings.add_argument("--days-back", type=float, default=30.0, metavar="DAYS")
    bookings.add_argument("--days-ahead", type=float, default=90.0, metavar="DAYS")
