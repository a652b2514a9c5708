"""Report 5: reconciliation of bookings, sign-ins and what the instruments did (issue 13).

For each instrument in scope, the bookings and the sessions that overlap the period are checked
against each other and against the stored timeline's running time
(:mod:`jishi.collector.usage.reconcile` decides the verdicts). Sessions are read as figures
read them, with the user directory applied; the session users the directory does not know are
listed in a table of their own, since their use cannot be classed as service.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries
from jishi.collector.ledger.bookings import bookings_in
from jishi.collector.ledger.directory import unmatched_accounts
from jishi.collector.reports import columns as col
from jishi.collector.reports.figures import select_instruments
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.reports.scope import ReportHeader, ReportScope
from jishi.collector.reports.trail import local_time
from jishi.collector.usage.bookings import Booking
from jishi.collector.usage.engine import Session
from jishi.collector.usage.periods import SECONDS_PER_HOUR
from jishi.collector.usage.reconcile import (
    VERDICT_NAMES,
    BookingCheck,
    SessionCheck,
    reconcile,
)
from jishi.collector.usage.timeline import build_timeline


@dataclass(frozen=True)
class InstrumentChecks:
    """One instrument's checked bookings and sessions."""

    instrument: str
    name: str
    bookings: list[BookingCheck]
    sessions: list[SessionCheck]


@dataclass(frozen=True)
class ReconciliationReport(ReportHeader):
    """Every instrument's checks, and the session users the directory does not know."""

    instruments: list[InstrumentChecks]
    unmatched: list[dict[str, Any]]


# Instruments whose bookings and sessions are read in one query each: a fleet's report costs
# a few queries per chunk, and a timeline only for instruments that have something to check.
_CHUNK = 500


def _check_instrument(  # noqa: PLR0917 - one instrument's inputs, period and grace
    conn: Connection,
    row: Mapping[str, Any],
    bookings: list[Booking],
    sessions: list[Session],
    period: tuple[float, float],
    grace_s: float,
) -> InstrumentChecks:
    name = row["name"] or row["id"]
    if not bookings and not sessions:
        return InstrumentChecks(row["id"], name, [], [])
    lo, hi = period
    # Running time over everything the bookings and sessions cover, also outside the period.
    first = min([lo] + [b.start for b in bookings] + [s.start for s in sessions])
    last = max([hi] + [b.end for b in bookings] + [s.end for s in sessions])
    timeline = build_timeline(queries.coverage(conn, row["id"], first, last), first, last)
    running = [(iv.start, iv.end) for iv in timeline if iv.state == "running"]
    checked_b, checked_s = reconcile(bookings, sessions, running, grace_s=grace_s)
    return InstrumentChecks(row["id"], name, checked_b, checked_s)


def build_reconciliation_report(
    conn: Connection, config: CollectorConfig, scope: ReportScope
) -> ReconciliationReport:
    period, grace_s = scope.period, config.reports.overrun_grace_min * 60
    window = (period.start, period.end)
    rows = select_instruments(conn, unit=scope.unit, instruments=scope.instruments)
    out: list[InstrumentChecks] = []
    for at in range(0, len(rows), _CHUNK):
        chunk = rows[at : at + _CHUNK]
        ids = [r["id"] for r in chunk]
        bookings = bookings_in(conn, ids, *window)
        sessions = queries.sessions_in(conn, ids, *window, scope.now)
        for row in chunk:
            i = row["id"]
            out.append(_check_instrument(conn, row, bookings[i], sessions[i], window, grace_s))
        if scope.progress is not None:
            scope.progress(len(chunk))
    unmatched = unmatched_accounts(conn, period.start, period.end)
    ids_in_scope = {r["id"] for r in rows}
    unmatched = [u for u in unmatched if ids_in_scope.intersection(u["instruments"])]
    return ReconciliationReport(period, scope.now, scope.unit, out, unmatched)


def _hours(seconds: float) -> float:
    return round(seconds / SECONDS_PER_HOUR, 2)


def _verdicts(codes: Sequence[str]) -> str:
    return "、".join(VERDICT_NAMES[c] for c in codes)


def _booking_row(item: InstrumentChecks, c: BookingCheck, tz: str) -> dict[str, Any]:
    b = c.booking
    return {
        "instrument": item.instrument,
        "name": item.name,
        "booking_id": b.booking_id,
        "user": b.user,
        "title": b.title,
        "start": local_time(b.start, tz),
        "end": local_time(b.end, tz),
        "all_day": b.all_day,
        "booked_h": _hours(b.end - b.start),
        "signed_in_h": _hours(c.signed_in_s),
        "running_h": _hours(c.running_s),
        "overrun_h": _hours(c.overrun_s),
        "verdicts": list(c.verdicts),
        "verdict_text": _verdicts(c.verdicts),
        "sessions": ",".join(c.sessions),
    }


def _session_row(item: InstrumentChecks, c: SessionCheck, tz: str) -> dict[str, Any]:
    s = c.session
    return {
        "instrument": item.instrument,
        "name": item.name,
        "session_id": s.session_id,
        "user": s.user,
        "user_type": s.user_type,
        "org": s.org,
        "start": local_time(s.start, tz),
        "end": local_time(s.end, tz),
        "signed_in_h": _hours(s.end - s.start),
        "booked_h": _hours(c.booked_s),
        "running_h": _hours(c.running_s),
        "outside_booking_h": _hours(c.outside_booking_s),
        "verdicts": list(c.verdicts),
        "verdict_text": _verdicts(c.verdicts),
        "bookings": ",".join(c.bookings),
    }


def _rows(report: ReconciliationReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tz = report.period.timezone
    bookings = [_booking_row(i, c, tz) for i in report.instruments for c in i.bookings]
    sessions = [_session_row(i, c, tz) for i in report.instruments for c in i.sessions]
    return bookings, sessions


def reconciliation_json(report: ReconciliationReport) -> dict[str, Any]:
    bookings, sessions = _rows(report)
    count_b = Counter(v for row in bookings for v in row["verdicts"])
    count_s = Counter(v for row in sessions for v in row["verdicts"])
    return {
        **report.json_header("reconciliation"),
        "verdict_names": VERDICT_NAMES,
        "summary": {
            "bookings": {"total": len(bookings), **dict(sorted(count_b.items()))},
            "sessions": {"total": len(sessions), **dict(sorted(count_s.items()))},
            "unmatched_accounts": len(report.unmatched),
        },
        "bookings": [{k: v for k, v in r.items() if k != "verdict_text"} for r in bookings],
        "sessions": [{k: v for k, v in r.items() if k != "verdict_text"} for r in sessions],
        "unmatched_accounts": report.unmatched,
    }


BOOKING_COLUMNS = (
    col.INSTRUMENT,
    Column("仪器名称", "name"),
    Column("预约编号", "booking_id"),
    Column("预约人", "user"),
    Column("预约事由", "title"),
    Column("预约开始时间", "start"),
    Column("预约结束时间", "end"),
    Column("预约机时", "booked_h", "hours"),
    Column("登记机时", "signed_in_h", "hours"),
    Column("运行机时", "running_h", "hours"),
    Column("超时机时", "overrun_h", "hours"),
    Column("核对结果", "verdict_text"),
    Column("会话编号", "sessions"),
)
SESSION_COLUMNS = (
    col.INSTRUMENT,
    Column("仪器名称", "name"),
    Column("会话编号", "session_id"),
    Column("用户", "user"),
    Column("用户类型", "user_type"),
    Column("单位", "org"),
    Column("登记开始时间", "start"),
    Column("登记结束时间", "end"),
    Column("登记机时", "signed_in_h", "hours"),
    Column("预约内机时", "booked_h", "hours"),
    Column("运行机时", "running_h", "hours"),
    Column("预约外机时", "outside_booking_h", "hours"),
    Column("核对结果", "verdict_text"),
    Column("预约编号", "bookings"),
)
UNMATCHED_COLUMNS = (
    Column("未匹配账号", "user"),
    Column("会话数", "sessions", "int"),
    Column("仪器编号", "instruments_text"),
)


def reconciliation_sheets(report: ReconciliationReport) -> list[Sheet]:
    bookings, sessions = _rows(report)
    unmatched = [{**u, "instruments_text": ",".join(u["instruments"])} for u in report.unmatched]
    note = (
        "超时：登记时间超出预约（且不在其他预约内）超过宽限（[reports] overrun_grace_min，默认 15 "
        "分钟）。运行机时取自仪器实测状态。"
    )
    return [
        Sheet("预约核对", BOOKING_COLUMNS, bookings, notes=(note,)),
        Sheet("上机核对", SESSION_COLUMNS, sessions, notes=(note,)),
        Sheet("未匹配账号", UNMATCHED_COLUMNS, unmatched),
    ]
