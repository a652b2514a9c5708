"""Report 3: the low-utilization warning list, with completeness beside every instrument.

An instrument is listed when its (adjusted) effective hours fall below a share of its prorated
quota (``[reports] low_utilization_below``, default 50 %). Missing data must never pass for
idleness, so each entry also carries completeness and an upper bound that counts every unknown
hour as used: if even that bound is below the threshold the instrument is under-used whatever
the missing data held; otherwise the verdict is "under-used or data missing". Instruments whose
completeness is below ``low_completeness_below`` are listed as a problem of their own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.reports import columns as col
from jishi.collector.reports.figures import (
    InstrumentFigures,
    compute_figures,
    figure_dict,
    select_instruments,
)
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.reports.scope import ReportHeader, ReportScope

UNDER_USED = "under_used"
UNDER_USED_OR_MISSING = "under_used_or_data_missing"
VERDICT_NAMES = {UNDER_USED: "使用不足", UNDER_USED_OR_MISSING: "使用不足或数据缺失"}


@dataclass(frozen=True)
class LowUseEntry:
    """An instrument below the low-utilization threshold, with its figures."""

    figures: InstrumentFigures
    utilization: float
    upper_bound: float  # utilization if every unknown hour had been effective
    verdict: str


@dataclass(frozen=True)
class LowUseReport(ReportHeader):
    """The low-utilization warning list of a period."""

    threshold: float
    completeness_threshold: float
    instruments: list[InstrumentFigures]
    low_utilization: list[LowUseEntry]
    low_completeness: list[InstrumentFigures]


def build_lowuse_report(
    conn: Connection, config: CollectorConfig, scope: ReportScope
) -> LowUseReport:
    settings = config.reports
    rows = select_instruments(conn, unit=scope.unit, instruments=scope.instruments)
    items = compute_figures(conn, config, rows, scope)
    low: list[LowUseEntry] = []
    for item in items:
        figures = item.adjusted
        utilization = figures.utilization
        if utilization is None or utilization >= settings.low_utilization_below:
            continue
        upper = (figures.effective_s + figures.unknown_s) / figures.quota_s
        verdict = UNDER_USED if upper < settings.low_utilization_below else UNDER_USED_OR_MISSING
        low.append(LowUseEntry(item, utilization, upper, verdict))
    low.sort(key=lambda e: (e.utilization, e.figures.instrument))
    incomplete = sorted(
        (i for i in items if i.adjusted.completeness < settings.low_completeness_below),
        key=lambda i: (i.adjusted.completeness, i.instrument),
    )
    return LowUseReport(
        scope.period,
        scope.now,
        scope.unit,
        settings.low_utilization_below,
        settings.low_completeness_below,
        items,
        low,
        incomplete,
    )


def _entry_row(item: InstrumentFigures) -> dict[str, Any]:
    adjusted, raw = figure_dict(item.adjusted), figure_dict(item.raw)
    return {
        "instrument": item.instrument,
        "name": item.name,
        "unit": item.unit,
        "inner_id": item.inner_id,
        "effective_h": adjusted["effective_h"],
        "raw_effective_h": raw["effective_h"],
        "quota_h": adjusted["quota_h"],
        "utilization": adjusted["utilization"],
        "completeness": adjusted["completeness"],
        "raw_completeness": raw["completeness"],
        "unknown_h": adjusted["unknown_h"],
        "adjustments": list(item.adjustments),
    }


def _unit_summary(report: LowUseReport) -> list[dict[str, Any]]:
    total = Counter(i.unit or "" for i in report.instruments)
    low = Counter(e.figures.unit or "" for e in report.low_utilization)
    incomplete = Counter(i.unit or "" for i in report.low_completeness)
    return [
        {
            "unit": name or None,
            "instruments": total[name],
            "low_utilization": low[name],
            "low_completeness": incomplete[name],
        }
        for name in sorted(total)
    ]


def lowuse_json(report: LowUseReport) -> dict[str, Any]:
    return {
        **report.json_header("low-utilization"),
        "utilization_below": report.threshold,
        "completeness_below": report.completeness_threshold,
        "low_utilization": [
            {
                **_entry_row(e.figures),
                "utilization_upper_bound": round(e.upper_bound, 6),
                "verdict": e.verdict,
            }
            for e in report.low_utilization
        ],
        "low_completeness": [_entry_row(i) for i in report.low_completeness],
        "units": _unit_summary(report),
    }


_COMMON = (
    col.INSTRUMENT,
    col.NAME,
    col.UNIT,
    col.INNER_ID,
    col.EFFECTIVE_H,
    col.RAW_EFFECTIVE_H,
    col.QUOTA_H,
    col.UTILIZATION,
    col.COMPLETENESS,
    Column("未知时长", "unknown_h", "hours"),
)


def lowuse_sheets(report: LowUseReport) -> list[Sheet]:
    low_rows = [
        {
            **_entry_row(e.figures),
            "upper": e.upper_bound,
            "verdict": VERDICT_NAMES[e.verdict],
            "adjustments": col.adjustment_ids(e.figures.adjustments),
        }
        for e in report.low_utilization
    ]
    low_columns = (
        *_COMMON,
        Column("使用率上限(未知计为使用)", "upper", "ratio"),
        Column("结论", "verdict"),
        col.ADJUSTMENTS,
    )
    incomplete_rows = [
        {**_entry_row(i), "adjustments": col.adjustment_ids(i.adjustments)}
        for i in report.low_completeness
    ]
    pct = f"{report.threshold:.0%}"
    return [
        Sheet(
            "使用率偏低",
            low_columns,
            low_rows,
            notes=(f"使用率低于定额机时的 {pct}；数据完整率见各行。",),
        ),
        Sheet(
            "数据完整率偏低",
            (*_COMMON, col.ADJUSTMENTS),
            incomplete_rows,
            notes=(f"数据完整率低于 {report.completeness_threshold:.0%}：缺失数据不等于闲置。",),
        ),
        Sheet(
            "管理单位汇总",
            (
                col.UNIT,
                col.INSTRUMENT_COUNT,
                Column("使用率偏低台数", "low_utilization", "int"),
                Column("数据完整率偏低台数", "low_completeness", "int"),
            ),
            [{**u, "unit": u["unit"] or col.NO_UNIT} for u in _unit_summary(report)],
        ),
    ]
