"""``jishi collector ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from jishi.collector.service import run_from_args

    return run_from_args(args)


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
    run.add_argument("-c", "--config", required=True, metavar="FILE", help="collector.toml")
    run.add_argument("--broker", metavar="URL", help="override mqtt.broker, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--db", metavar="URL", help="override the ledger URL (sqlite:///... or postgresql+psycopg://...)")
    run.add_argument("--api-port", type=int, metavar="P", help="override api.port")
    run.set_defaults(handler=_run)
