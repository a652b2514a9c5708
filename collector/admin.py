"""Handlers of the collector's administrative commands: check, token, and the imports of
sessions, the user directory and bookings."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jishi.collector.api.tokens import TokenStore
from jishi.collector.checks import check_broker, check_feed, check_influx
from jishi.collector.client_id import weak_client_id_reason
from jishi.collector.config import CollectorConfig, config_from_args
from jishi.collector.ingest.booking_import import import_bookings_csv, import_calendar
from jishi.collector.ingest.directory_import import import_directory_csv
from jishi.collector.ingest.session_import import import_sessions_csv
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.session_input import SessionImportError
from jishi.errors import JishiError
from jishi.i18n import _, ljust, rjust


def _open(args: argparse.Namespace) -> tuple[CollectorConfig, Engines]:
    config = config_from_args(args)
    engines = open_engines(
        config.database_url, create_ledger=bool(getattr(args, "create_ledger", False))
    )
    migrate(engines)
    return config, engines


def check(args: argparse.Namespace) -> int:
    """The config, the ledger (migrated), then the broker and InfluxDB tried for real: a
    broker that is down or refuses the password fails the check (issue 14)."""
    config, engines = _open(args)
    engines.dispose()
    print(
        _("{file}: OK; ledger {dialect} is current").format(
            file=args.config, dialect=engines.dialect
        )
    )
    weak = weak_client_id_reason(config.mqtt.client_id)
    if weak is not None:
        # A warning, not a failure: a running site keeps its session under this id until the
        # operator moves it (docs/collector.md, "Broker set-up").
        print(_("warning: {problem}").format(problem=weak))
    ok = True
    if not args.no_broker:
        ok, said = check_broker(config.mqtt)
        print(_("broker {url}: {said}").format(url=config.mqtt.url, said=said))
    if config.influx is not None and config.influx.enabled and not args.no_influx:
        influx_ok, said = check_influx(config.influx)
        print(_("influx {url}: {said}").format(url=config.influx.url, said=said))
        ok = ok and influx_ok
    for feed in config.bookings if not args.no_feeds else ():
        feed_ok, said = check_feed(feed, config.site.timezone, time.time())
        print(
            _("booking feed {name} ({url}): {said}").format(name=feed.name, url=feed.url, said=said)
        )
        ok = ok and feed_ok
    print(
        _("check passed")
        if ok
        else _("check FAILED: fix the problems above and run the check again")
    )
    return 0 if ok else 1


def _when(value: float | None) -> str:
    return "-" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M")


def token(args: argparse.Namespace) -> int:
    _config, engines = _open(args)
    store = TokenStore(engines)
    try:
        if args.token_command == "create":  # noqa: S105 - a sub-command, not a secret
            info, clear = store.create(args.name, args.role)
            print(
                _("created token {id} ({name}, role {role}); it is shown only once:").format(
                    id=info.id, name=info.name, role=info.role
                )
            )
            print(clear)
        elif args.token_command == "list":  # noqa: S105 - a sub-command, not a secret
            _token_table(store)
        else:
            info = store.revoke(args.ident)
            print(_("revoked token {id} ({name})").format(id=info.id, name=info.name))
    finally:
        engines.dispose()
    return 0


def _token_table(store: TokenStore) -> None:
    """The tokens, one a line, under headers in the reader's language."""
    print(
        f"{rjust(_('id'), 4)}  {ljust(_('role'), 6)} {ljust(_('created'), 16)}  "
        f"{ljust(_('revoked'), 16)}  {_('name')}"
    )
    for item in store.list():
        print(
            f"{item.id:>4}  {item.role:<6} {_when(item.created_at):<16}  "
            f"{_when(item.revoked_at):<16}  {item.name}"
        )


def _import(args: argparse.Namespace, what: str, store: Callable[..., int]) -> int:
    """Read ``args.file`` and hand it to ``store(engines, raw, timezone, now)``; every bad row
    is printed and nothing is stored then."""
    config, engines = _open(args)
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        engines.dispose()
        raise JishiError(
            _("{file}: cannot read: {error}").format(file=path, error=exc.strerror)
        ) from None
    try:
        count = store(engines, raw, config.site.timezone, time.time())
    except SessionImportError as exc:
        print("\n".join(_bad_rows(path, exc)), file=sys.stderr)
        return 1
    finally:
        engines.dispose()
    print(what.format(file=path, count=count))
    return 0


# Bad rows shown at most (a wrong file can have 100,000).
SHOWN_ROWS = 50


def _bad_rows(path: Path, exc: SessionImportError) -> list[str]:
    """Every bad row (up to :data:`SHOWN_ROWS`) under a line saying nothing was imported; the
    rows' problems are the parsers' own words."""
    problems = exc.problems
    lines = [
        _("{file}: {count} bad row(s), nothing imported:").format(file=path, count=len(problems))
    ]
    lines += [
        text if line is None else _("line {line}: {problem}").format(line=line, problem=text)
        for line, text in problems[:SHOWN_ROWS]
    ]
    if len(problems) > SHOWN_ROWS:
        lines.append(_("... and {count} more").format(count=len(problems) - SHOWN_ROWS))
    return lines


def import_sessions(args: argparse.Namespace) -> int:
    return _import(args, _("{file}: imported {count} session(s)"), import_sessions_csv)


def import_directory(args: argparse.Namespace) -> int:
    return _import(args, _("{file}: imported {count} directory entr(ies)"), import_directory_csv)


def import_bookings(args: argparse.Namespace) -> int:
    """A CSV, or (``--instrument`` and ``--feed``) an iCalendar file of one instrument."""
    if args.file.lower().endswith(".ics") or args.instrument or args.feed:
        if not (args.instrument and args.feed):
            raise JishiError(_("an iCalendar file needs --instrument and --feed"))

        def calendar(engines: Engines, raw: bytes, timezone: str, now: float) -> int:
            return import_calendar(
                engines, raw, args.instrument, args.feed, timezone, now,
                days_back=args.days_back, days_ahead=args.days_ahead,
            )  # fmt: skip

        return _import(args, _("{file}: imported {count} booking(s)"), calendar)
    return _import(args, _("{file}: imported {count} booking(s)"), import_bookings_csv)
