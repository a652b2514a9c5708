"""Handlers of ``jishi report ...``: open the ledger, make the report, write it out."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from jishi.collector.config import CollectorConfig, config_from_args
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.reports.adjust import Adjustment
from jishi.collector.reports.adjust_store import (
    create_adjustment,
    list_adjustments,
    revoke_adjustment,
)
from jishi.collector.reports.cli_text import in_readers_language
from jishi.collector.reports.errors import ReportError
from jishi.collector.reports.figures import select_instruments
from jishi.collector.reports.make import make_report, render
from jishi.collector.reports.period import bounds_if_asked, parse_option_time, resolve_period
from jishi.collector.reports.scope import Progress, ReportScope
from jishi.collector.reports.trail import local_time
from jishi.i18n import _, ljust, rjust, state_name


@contextmanager
def _ledger(args: argparse.Namespace) -> Iterator[tuple[CollectorConfig, Engines]]:
    config = config_from_args(args)
    engines = open_engines(config.database_url)
    try:
        migrate(engines)
        yield config, engines
    finally:
        engines.dispose()


@contextmanager
def _progress(total: int, label: str, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on standard error (never on stdout, which may carry the report)."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def run_report(args: argparse.Namespace) -> int:
    with in_readers_language():
        return _run_report(args)


def run_adjust(args: argparse.Namespace) -> int:
    with in_readers_language():
        return _run_adjust(args)


def _run_report(args: argparse.Namespace) -> int:
    now = time.time()
    with _ledger(args) as (config, engines):
        period = resolve_period(
            year=args.year,
            start=args.start,
            end=args.end,
            timezone=config.site.timezone,
            now=now,
        )
        instruments = getattr(args, "instrument", None)
        with engines.read.connect() as conn:
            total = len(select_instruments(conn, unit=args.unit, instruments=instruments))
            with _progress(total, args.report_name, not args.no_progress) as progress:
                scope = ReportScope(
                    period,
                    now,
                    unit=args.unit,
                    instruments=instruments,
                    kind=getattr(args, "kind", None),
                    progress=progress,
                )
                made = make_report(args.report_name, conn, config, scope)
    rendered = render(made, args.format, period, sheet=args.table)
    if args.output:
        path = Path(args.output)
        try:
            path.write_bytes(rendered.body)
        except OSError as exc:
            raise ReportError(
                _("{file}: cannot write: {error}").format(file=path, error=exc.strerror)
            ) from None
        print(
            _("wrote {file} ({report}, {period})").format(
                file=path, report=args.report_name, period=period.label
            ),
            file=sys.stderr,
        )
        return 0
    if args.format == "xlsx" and sys.stdout.isatty():
        raise ReportError(_("XLSX is binary: give -o FILE.xlsx"))
    sys.stdout.buffer.write(rendered.body)
    sys.stdout.flush()
    return 0


def _when(text: str, name: str, zone: ZoneInfo) -> float:
    return parse_option_time(
        name, text, zone, expected=_("an ISO 8601 time, e.g. 2025-03-01T08:00")
    )


def _show(items: list[Adjustment], timezone: str) -> None:
    print(
        f"{rjust(_('id'), 4)}  {ljust(_('instrument'), 16)} {ljust(_('start'), 19)}  "
        f"{ljust(_('end'), 19)}  {ljust(_('state'), 11)} {ljust(_('status'), 8)} "
        + _("by / reason")
    )
    for a in items:
        status = _("active") if a.active else _("revoked")
        revoked = _(" | revoked by {who}: {reason}").format(
            who=a.revoked_by, reason=a.revoke_reason
        )
        print(
            f"{a.id:>4}  {a.instrument:<16} {local_time(a.start, timezone):<19}  "
            f"{local_time(a.end, timezone):<19}  {ljust(state_name(a.state), 11)} "
            f"{ljust(status, 8)} {a.created_by}: {a.reason}" + ("" if a.active else revoked)
        )


def _run_adjust(args: argparse.Namespace) -> int:
    now = time.time()
    with _ledger(args) as (config, engines):
        tz = config.site.timezone
        zone = ZoneInfo(tz)
        actor = getattr(args, "by", None) or getpass.getuser()
        if args.adjust_command == "add":
            made = create_adjustment(
                engines,
                instrument=args.instrument,
                start=_when(args.start, "start", zone),
                end=_when(args.end, "end", zone),
                state=args.state,
                reason=args.reason,
                actor=actor,
                now=now,
            )
            print(
                _("adjustment {id} recorded: {instrument} {state} {start} .. {end}").format(
                    id=made.id,
                    instrument=made.instrument,
                    state=state_name(made.state),
                    start=local_time(made.start, tz),
                    end=local_time(made.end, tz),
                )
            )
        elif args.adjust_command == "revoke":
            done = revoke_adjustment(engines, args.id, reason=args.reason, actor=actor, now=now)
            print(_("adjustment {id} revoked (it stays in the audit trail)").format(id=done.id))
        else:
            lo, hi = bounds_if_asked(
                year=args.year, start=args.start, end=args.end, timezone=tz, now=now
            )
            with engines.read.connect() as conn:
                _show(list_adjustments(conn, args.instrument, lo, hi), tz)
    return 0
