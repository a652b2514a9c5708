"""Report 2: service records (服务记录) for the national platform, one per service session.

A record is a session of an internal (service type 120) or external (130) user; staff and
unclassified sessions are not service and are only counted. Its hours are the effective time
inside the session (adjusted timeline; the raw value is kept beside it), measured inside the
reporting period: a session across New Year is split between the two years' reports, with its
times clipped to the period. Names on the platform side come from the configured mapping.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.reports import columns as col
from jishi.collector.reports.adjust import Adjustment
from jishi.collector.reports.figures import (
    Inputs,
    adjustments_by_instrument,
    load_inputs,
    period_trail,
    select_instruments,
)
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.reports.period import ReportPeriod
from jishi.collector.reports.scope import ReportHeader, ReportScope
from jishi.collector.reports.settings import PlatformMapping, platform_mapping
from jishi.collector.reports.trail import local_time, trail_json, trail_sheet
from jishi.collector.usage.engine import Session, compute_usage
from jishi.collector.usage.periods import SECONDS_PER_HOUR
from jishi.collector.usage.timeline import Interval


@dataclass(frozen=True)
class ServiceRecord:
    """One national-platform service record (服务记录): a session's effective hours.

    ``start`` and ``end`` are the session's times clipped to the period; who was served and how
    they judged it (user, org, contact, satisfaction, samples, id) stay in the session.
    """

    instrument: str
    instrument_name: str
    unit: str | None
    inner_id: str | None
    session: Session
    start: float
    end: float
    hours: float
    hours_raw: float
    service_type: int
    service_way: str
    direction_code: int
    direction: str

    @property
    def user_type(self) -> str:
        return self.session.user_type or ""


# The session's fields a record shows as they are (with the above: settings.RECORD_KEYS).
SESSION_FIELDS = ("user", "org", "contact", "satisfaction", "sample_count", "session_id")


@dataclass(frozen=True)
class RecordsReport(ReportHeader):
    """The service records of a period, the sessions left out by type, and the audit trail."""

    records: list[ServiceRecord]
    excluded: dict[str, int]  # sessions that are not service, by user type
    trail: list[Adjustment]
    mapping: PlatformMapping


def _effective_inside(
    intervals: Sequence[Interval],
    starts: Sequence[float],
    inputs: Inputs,
    *,
    lo: float,
    hi: float,
) -> float:
    """Effective seconds in ``[lo, hi)``, judged on the intervals and sessions around it."""
    context = inputs.policy.context_s
    first = max(0, bisect_right(starts, lo - context) - 2)
    last = min(len(intervals), bisect_left(starts, hi + context) + 1)
    near = [s for s in inputs.sessions if s.start < hi + context and s.end > lo - context]
    return compute_usage(intervals[first:last], near, inputs.policy, lo, hi).effective_s


def build_records_report(
    conn: Connection, config: CollectorConfig, scope: ReportScope
) -> RecordsReport:
    period, now = scope.period, scope.now
    mapping = platform_mapping(config.reports)
    rows = select_instruments(conn, unit=scope.unit, instruments=scope.instruments)
    adjustments = adjustments_by_instrument(conn, config, [r["id"] for r in rows], period)
    records: list[ServiceRecord] = []
    excluded: Counter[str] = Counter()
    for row in rows:
        inputs = load_inputs(
            conn, row, config, period, now=now, adjustments=adjustments.get(row["id"], [])
        )
        records += _instrument_records(row, inputs, period, mapping, excluded)
        if scope.progress is not None:
            scope.progress(1)
    trail = period_trail(conn, rows, period)
    excluded_by_type = dict(sorted(excluded.items()))
    return RecordsReport(period, now, scope.unit, records, excluded_by_type, trail, mapping)


def _instrument_records(
    row: Mapping[str, Any],
    inputs: Inputs,
    period: ReportPeriod,
    mapping: PlatformMapping,
    excluded: Counter[str],
) -> list[ServiceRecord]:
    """One service record per session of a counted user type inside the period; the others
    are counted in ``excluded`` by type."""
    raw_starts = [iv.start for iv in inputs.intervals]
    adj_starts = [iv.start for iv in inputs.adjusted]
    out: list[ServiceRecord] = []
    for session in inputs.sessions:
        lo, hi = max(session.start, period.start), min(session.end, period.end)
        if hi <= lo:
            continue
        code = mapping.service_type.get(session.user_type or "")
        if code is None:
            excluded[session.user_type or "unclassified"] += 1
            continue
        raw = _effective_inside(inputs.intervals, raw_starts, inputs, lo=lo, hi=hi)
        adjusted = (
            _effective_inside(inputs.adjusted, adj_starts, inputs, lo=lo, hi=hi)
            if inputs.adjustments
            else raw
        )
        direction_name, direction_code = mapping.direction(session.direction)
        out.append(
            ServiceRecord(
                instrument=row["id"],
                instrument_name=row["name"] or row["id"],
                unit=row["unit"],
                inner_id=row["inner_id"],
                session=session,
                start=lo,
                end=hi,
                hours=adjusted / SECONDS_PER_HOUR,
                hours_raw=raw / SECONDS_PER_HOUR,
                service_type=code,
                service_way=mapping.service_way(session.service_way),
                direction_code=direction_code,
                direction=direction_name,
            )
        )
    return out


def shown_sum(hours: Iterable[float]) -> float:
    """The total of hours as the records show them (each rounded to 0.01 h): a reader who adds
    up the column gets the total row (issue 14; rounding the exact sum could differ by a few
    hundredths over many records)."""
    return round(sum(round(value, 2) for value in hours), 2)


def _record_values(record: ServiceRecord, mapping: PlatformMapping, tz: str) -> dict[str, Any]:
    """The record's values under the names the platform mapping reads (RECORD_KEYS)."""
    values = asdict(record)
    session = values.pop("session")
    values.update({name: session[name] for name in SESSION_FIELDS}, user_type=record.user_type)
    values["start"] = local_time(record.start, tz, mapping.time_format)
    values["end"] = local_time(record.end, tz, mapping.time_format)
    values["hours"] = round(record.hours, 2)  # as shown_sum adds them up
    values["hours_raw"] = round(record.hours_raw, 2)
    return values


def records_json(report: RecordsReport) -> dict[str, Any]:
    """Records under the platform's field names (``innerId``, ``serviceTime``, ...)."""
    tz, mapping = report.period.timezone, report.mapping
    records = []
    for record in report.records:
        values = _record_values(record, mapping, tz)
        records.append({name: values[source] for name, source in mapping.record_fields.items()})
    return {
        **report.json_header("service-records"),
        "record_fields": mapping.record_fields,
        "records": records,
        "total": {
            "records": len(report.records),
            "hours": shown_sum(r.hours for r in report.records),
            "hours_raw": shown_sum(r.hours_raw for r in report.records),
            "external_hours": shown_sum(
                r.hours for r in report.records if r.user_type == "external"
            ),
        },
        "excluded_sessions": report.excluded,
        "adjustments": trail_json(report.trail, tz),
    }


RECORD_COLUMNS = (
    Column("仪器内部编号", "inner_id"),
    col.INSTRUMENT,
    Column("仪器名称", "instrument_name"),
    col.UNIT,
    Column("服务开始时间", "start"),
    Column("服务结束时间", "end"),
    Column("服务机时", "hours", "hours"),
    Column("服务机时(原始)", "hours_raw", "hours"),
    Column("服务类型", "service_type", "int"),
    Column("服务方式", "service_way"),
    Column("服务方向", "direction_code", "int"),
    Column("申请人", "user"),
    Column("申请人单位", "org"),
    Column("联系方式", "contact"),
    Column("满意度", "satisfaction", "number"),
    Column("样品数", "sample_count", "int"),
    Column("会话编号", "session_id"),
)


def records_sheets(report: RecordsReport) -> list[Sheet]:
    tz, mapping = report.period.timezone, report.mapping
    rows = [_record_values(r, mapping, tz) for r in report.records]
    total = {
        "inner_id": "合计",
        "hours": shown_sum(r.hours for r in report.records),
        "hours_raw": shown_sum(r.hours_raw for r in report.records),
        "session_id": f"{len(report.records)} 条",
    }
    note = "服务类型 120 校内 / 130 校外；服务方向 135 科研 / 136 开发 / 137 教学 / 138 其他。"
    return [
        Sheet("服务记录", RECORD_COLUMNS, rows, total, notes=(note,)),
        trail_sheet(report.trail, tz),
    ]
