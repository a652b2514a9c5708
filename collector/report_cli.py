"""``jishi report ...`` sub-commands. Imports nothing heavy: handlers import on use."""

from __future__ import annotations

import argparse

from jishi.cli_parts import Commands, command, group, ledger_options
from jishi.i18n import N_, _
from jishi.states import STATES

REPORTS = {
    "figures": N_("yearly figures per instrument and management unit (runMachine, serviceMachine)"),
    "service-records": N_("service records (服务记录) for the national platform, one per session"),
    "low-utilization": N_("instruments under a share of their quota, with completeness beside"),
    "saturation": N_("purchase review: is each instrument of a kind saturated (>= 1,200 h/year)"),
    "reconciliation": N_(
        "bookings vs sign-ins vs running time: no-shows, overruns, use without booking, signed "
        "in but never running; accounts the user directory does not know"
    ),
}
RUN_REPORT = "jishi.collector.reports.cli_run:run_report"
RUN_ADJUST = "jishi.collector.reports.cli_run:run_adjust"


def _period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--year", type=int, metavar="YYYY", help=_("a calendar year (site time zone)")
    )
    parser.add_argument(
        "--start", metavar="DATE", help=_("period start, e.g. 2025-01-01 (inclusive)")
    )
    parser.add_argument("--end", metavar="DATE", help=_("period end, e.g. 2026-01-01 (exclusive)"))


def register(sub: Commands) -> None:
    commands = group(
        sub,
        "report",
        summary=_(
            "evaluation reports: yearly figures, service records, warning lists, adjustments"
        ),
        description=_(
            "Reports for the evaluation office from the collector's ledger. Without "
            "--year or --start/--end a report covers the last complete calendar year."
        ),
        dest="report_command",
        metavar="REPORT",
    )
    for name, text in REPORTS.items():
        parser = command(commands, name, summary=_(text), handler=RUN_REPORT, report_name=name)
        ledger_options(parser)
        _period(parser)
        parser.add_argument("--unit", metavar="UNIT", help=_("only this management unit"))
        if name == "saturation":
            parser.add_argument(
                "--kind", metavar="KIND", help=_("only this instrument kind ([reports.kinds])")
            )
        else:
            parser.add_argument(
                "--instrument",
                action="append",
                metavar="ID",
                help=_("only this instrument (repeat)"),
            )
        parser.add_argument("--format", choices=("json", "csv", "xlsx"), default="json")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help=_("write to FILE (default: standard output)")
        )
        parser.add_argument(
            "--table",
            type=int,
            default=0,
            metavar="N",
            help=_("CSV only: which table (0 = the main one; see docs/reports.md)"),
        )
        parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    _register_adjust(commands)


def _register_adjust(commands: Commands) -> None:
    actions = group(
        commands,
        "adjust",
        summary=_(
            "correct a stretch of an instrument's timeline (admin), list or revoke corrections"
        ),
        description=_(
            "An adjustment declares the state of an instrument over a stretch "
            "(declared maintenance, running hidden by a mis-set threshold). Reports show raw and "
            "adjusted figures and the audit trail; nothing is overwritten."
        ),
        dest="adjust_command",
        metavar="ACTION",
    )
    add = command(actions, "add", summary=_("record an adjustment"), handler=RUN_ADJUST)
    ledger_options(add)
    add.add_argument("--instrument", required=True, metavar="ID")
    add.add_argument("--start", required=True, metavar="TIME", help=_("e.g. 2025-03-01T08:00"))
    add.add_argument("--end", required=True, metavar="TIME", help=_("exclusive"))
    add.add_argument("--state", required=True, choices=STATES)
    add.add_argument("--reason", required=True, help=_("why: shown in every report's audit trail"))
    add.add_argument(
        "--by", metavar="NAME", help=_("who makes the correction (default: login name)")
    )
    revoke = command(
        actions,
        "revoke",
        summary=_("revoke an adjustment (it stays in the trail)"),
        handler=RUN_ADJUST,
    )
    ledger_options(revoke)
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--by", metavar="NAME")
    listing = command(
        actions, "list", summary=_("list adjustments with their audit fields"), handler=RUN_ADJUST
    )
    ledger_options(listing)
    _period(listing)
    listing.add_argument("--instrument", action="append", metavar="ID")
