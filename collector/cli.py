"""``jishi collector ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse

from jishi.cli_parts import Commands, broker_option, command, group, ledger_options
from jishi.i18n import N_, _


def register(sub: Commands) -> None:
    commands = group(
        sub,
        "collector",
        summary=_("run the collector (MQTT ingest, ledger, usage API)"),
        description=_(
            "The collector subscribes to agents' MQTT messages, stores them in the "
            "ledger and serves the usage API."
        ),
        dest="collector_command",
    )
    run = command(
        commands,
        "run",
        summary=_("ingest from the broker and serve the API"),
        description=_(
            "Ingest agent messages from the MQTT broker into the ledger and serve the "
            "REST API. The admin bearer token may be given in the environment variable "
            "JISHI_ADMIN_TOKEN."
        ),
        handler="jishi.collector.run:run_from_args",
    )
    ledger_options(run)
    broker_option(run)
    run.add_argument("--api-port", type=int, metavar="P", help=_("override api.port"))
    _create_ledger_option(run)
    check = command(
        commands,
        "check",
        summary=_("validate collector.toml, migrate the ledger, test the broker and InfluxDB"),
        description=_(
            "Validate the config file, open the ledger and bring its schema up to date, "
            "then connect to the broker with the configured credentials and TLS, and write an "
            "empty batch to InfluxDB when [influx] is configured. Exits non-zero with what to fix "
            "when anything fails."
        ),
        handler="jishi.collector.admin:check",
    )
    ledger_options(check)
    broker_option(check)
    _create_ledger_option(check)
    check.add_argument("--no-broker", action="store_true", help=_("skip the broker test"))
    check.add_argument("--no-influx", action="store_true", help=_("skip the InfluxDB test"))
    check.add_argument(
        "--no-feeds",
        action="store_true",
        help=_("skip reading the [[bookings]] calendar feeds"),
    )
    _register_tokens(commands)
    _register_sessions(commands)


def _create_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create-ledger",
        action="store_true",
        help=_(
            "if the SQLite ledger file exists but is empty or not a database, keep it aside "
            "as .bad-<time> and create a new ledger (without this the collector refuses to start)"
        ),
    )


def _register_tokens(commands: Commands) -> None:
    actions = group(
        commands,
        "token",
        summary=_("manage API bearer tokens (create, list, revoke)"),
        description=_(
            "API tokens have a role: read (GET routes), write (sessions), admin. "
            "They are stored hashed; the clear text is shown once, at creation."
        ),
        dest="token_command",
        metavar="ACTION",
    )
    manage = "jishi.collector.admin:token"
    create = command(
        actions, "create", summary=_("create a token and print it once"), handler=manage
    )
    ledger_options(create)
    create.add_argument("--name", required=True, help=_("who or what uses the token"))
    create.add_argument("--role", choices=("read", "write", "admin"), default="read")
    listing = command(
        actions, "list", summary=_("list tokens (never their clear text)"), handler=manage
    )
    ledger_options(listing)
    revoke = command(actions, "revoke", summary=_("revoke a token by id or name"), handler=manage)
    ledger_options(revoke)
    revoke.add_argument("ident", metavar="ID_OR_NAME")


# The import commands: name, summary, description, file help. Each reads one file, stores
# all of it or nothing, and prints every bad row (jishi.collector.admin).
IMPORTS = (
    (
        "import-sessions",
        N_("import user sessions from a booking-system CSV (all rows or none)"),
        N_(
            "Columns: instrument, start, end (required), user, org, contact (phone or e-mail), "
            "user_type (internal/external/staff), service_way, direction, satisfaction, "
            "sample_count, session_id. Times ISO 8601; without an offset they are site local "
            "time."
        ),
        N_("CSV file (UTF-8 or GBK/GB18030)"),
    ),
    (
        "import-directory",
        N_("import the user directory from a CSV (all rows or none; docs/sessions.md)"),
        N_(
            "Columns (English or Chinese): account/账号, user_type/用户类型 (required), card/卡号, "
            "email/邮箱, person/姓名, org/单位, unit/管理单位. Entries are stored by account; "
            "figures computed afterwards use them, past periods included."
        ),
        N_("CSV file (UTF-8 or GBK/GB18030)"),
    ),
    (
        "import-bookings",
        N_("import bookings from a CSV or an iCalendar (.ics) file (docs/sessions.md)"),
        N_(
            "CSV columns: instrument, start, end (required), user, title, booking_id. An .ics "
            "file is one instrument's calendar: give --instrument and --feed (its name); its "
            "occurrences in the window replace what that feed said before."
        ),
        N_("CSV (UTF-8 or GBK) or .ics file"),
    ),
)


def _register_sessions(commands: Commands) -> None:
    for name, summary, description, file_help in IMPORTS:
        parser = command(
            commands,
            name,
            summary=_(summary),
            description=_(description),
            handler=f"jishi.collector.admin:{name.replace('-', '_')}",
        )
        ledger_options(parser)
        parser.add_argument("file", metavar="FILE", help=_(file_help))
    bookings = commands.choices["import-bookings"]
    bookings.add_argument("--instrument", metavar="ID", help=_(".ics: the instrument it books"))
    bookings.add_argument("--feed", metavar="NAME", help=_(".ics: the calendar's name"))
    bookings.add_argument("--days-back", type=float, default=30.0, metavar="DAYS")
    bookings.add_argument("--days-ahead", type=float, default=90.0, metavar="DAYS")
