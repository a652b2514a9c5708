"""``jishi report ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse

from jishi.states import STATES

REPORTS = {
    "figures": "yearly figures per instrument and management unit (runMachine, serviceMachine)",
    "service-records": "service records (服务记录) for the national platform, one per session",
    "low-utilization": "instruments under a share of their quota, with completeness beside",
    "saturation": "purchase review: is each instrument of a kind saturated (>= 1,200 h/year)",
}


def _report(args: argparse.Namespace) -> int:
    from jishi.collector.reports.cli_run import run_report

    return run_report(args)


def _adjust(args: argparse.Namespace) -> int:
    from jishi.collector.reports.cli_run import run_adjust

    return run_adjust(args)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="collector.toml")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="override the ledger URL (sqlite:///... or postgresql+psycopg://...)",
    )


def _period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--year", type=int, metavar="YYYY", help="a calendar year (site time zone)")
    parser.add_argument("--start", metavar="DATE", help="period start, e.g. 2025-01-01 (inclusive)")
    parser.add_argument("--end", metavar="DATE", help="period end, e.g. 2026-01-01 (exclusive)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="evaluation reports: yearly figures, service records, warning lists, adjustments",
        description="Reports for the evaluation office from the collector's ledger. Without "
        "--year or --start/--end a report covers the last complete calendar year.",
    )
    report.set_defaults(help_parser=report)
    commands = report.add_subparsers(dest="report_command", metavar="REPORT")
    for name, text in REPORTS.items():
        parser = commands.add_parser(name, help=text, description=text)
        _common(parser)
        _period(parser)
        parser.add_argument("--unit", metavar="UNIT", help="only this management unit")
        if name == "saturation":
            parser.add_argument(
                "--kind", metavar="KIND", help="only this instrument kind ([reports.kinds])"
            )
        else:
            parser.add_argument(
                "--instrument", action="append", metavar="ID", help="only this instrument (repeat)"
            )
        parser.add_argument("--format", choices=("json", "csv", "xlsx"), default="json")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="write to FILE (default: standard output)"
        )
        parser.add_argument(
            "--table",
            type=int,
            default=0,
            metavar="N",
            help="CSV only: which table (0 = the main one; see docs/reports.md)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.set_defaults(handler=_report, report_name=name)

    _register_adjust(commands)


def _register_adjust(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adjust = commands.add_parser(
        "adjust",
        help="correct a stretch of an instrument's timeline (admin), list or revoke corrections",
        description="An adjustment declares the state of an instrument over a stretch "
        "(declared maintenance, running hidden by a mis-set threshold). Reports show raw and "
        "adjusted figures and the audit trail; nothing is overwritten.",
    )
    adjust.set_defaults(help_parser=adjust)
    actions = adjust.add_subparsers(dest="adjust_command", metavar="ACTION")
    add = actions.add_parser("add", help="record an adjustment")
    _common(add)
    add.add_argument("--instrument", required=True, metavar="ID")
    add.add_argument("--start", required=True, metavar="TIME", help="e.g. 2025-03-01T08:00")
    add.add_argument("--end", required=True, metavar="TIME", help="exclusive")
    add.add_argument(
        "--state",
        required=True,
        choices=STATES,
    )
    add.add_argument("--reason", required=True, help="why: shown in every report's audit trail")
    add.add_argument("--by", metavar="NAME", help="who makes the correction (default: login name)")
    add.set_defaults(handler=_adjust)
    revoke = actions.add_parser("revoke", help="revoke an adjustment (it stays in the trail)")
    _common(revoke)
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--by", metavar="NAME")
    revoke.set_defaults(handler=_adjust)
    listing = actions.add_parser("list", help="list adjustments with their audit fields")
    _common(listing)
    _period(listing)
    listing.add_argument("--instrument", action="append", metavar="ID")
    listing.set_defaults(handler=_adjust)
