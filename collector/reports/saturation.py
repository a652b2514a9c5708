"""Report 4: purchase-review saturation per instrument kind (>= 1,200 h a year by default).

A purchase of a new instrument is reviewed against whether the existing ones of the same kind
are saturated. Kinds are data (``[reports.kinds]``: kind name -> instrument id patterns); an
instrument matching no pattern is "未分类". The threshold is prorated like the quota, so a
half-year period needs half the hours; hours are the adjusted effective hours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.reports import columns as col
from jishi.collector.reports.errors import NotFoundError
from jishi.collector.reports.figures import (
    InstrumentFigures,
    compute_figures,
    kind_of,
    select_instruments,
)
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.reports.scope import ReportHeader, ReportScope
from jishi.collector.usage.periods import SECONDS_PER_HOUR, prorated_quota_s

UNCLASSIFIED = "未分类"


@dataclass(frozen=True)
class SaturationEntry:
    """An instrument kind whose instruments are busy beyond the saturation threshold."""

    figures: InstrumentFigures
    kind: str
    saturated: bool


@dataclass(frozen=True)
class SaturationReport(ReportHeader):
    """The saturation list: instrument kinds that may need more capacity."""

    kind: str | None
    threshold_h_per_year: float
    threshold_s: float  # prorated to the period
    entries: list[SaturationEntry]


def build_saturation_report(
    conn: Connection, config: CollectorConfig, scope: ReportScope
) -> SaturationReport:
    settings, kind, period = config.reports, scope.kind, scope.period
    if kind is not None and kind not in settings.kinds and kind != UNCLASSIFIED:
        known = ", ".join(settings.kinds) or "none configured ([reports.kinds] in collector.toml)"
        raise NotFoundError(f"no instrument kind {kind!r}; known kinds: {known}")
    rows = select_instruments(conn, unit=scope.unit)
    kinds = {r["id"]: kind_of(r["id"], settings.kinds) or UNCLASSIFIED for r in rows}
    if kind is not None:
        rows = [r for r in rows if kinds[r["id"]] == kind]
    items = compute_figures(conn, config, rows, scope)
    threshold_s = prorated_quota_s(
        settings.saturation_h_per_year, period.start, period.end, config.site.timezone
    )
    entries = [
        SaturationEntry(i, kinds[i.instrument], i.adjusted.effective_s >= threshold_s)
        for i in items
    ]
    entries.sort(key=lambda e: (e.kind, e.figures.instrument))
    return SaturationReport(
        period, scope.now, scope.unit, kind, settings.saturation_h_per_year, threshold_s, entries
    )


def _summary(report: SaturationReport) -> list[dict[str, Any]]:
    grouped: dict[str, list[SaturationEntry]] = defaultdict(list)
    for entry in report.entries:
        grouped[entry.kind].append(entry)
    out = []
    for name, members in sorted(grouped.items()):
        hours = sum(m.figures.adjusted.effective_s for m in members) / SECONDS_PER_HOUR
        saturated = sum(m.saturated for m in members)
        out.append(
            {
                "kind": name,
                "instruments": len(members),
                "saturated": saturated,
                "all_saturated": saturated == len(members),
                "mean_effective_h": round(hours / len(members), 6),
            }
        )
    return out


def _entry(entry: SaturationEntry) -> dict[str, Any]:
    f = entry.figures
    return {
        "instrument": f.instrument,
        "name": f.name,
        "unit": f.unit,
        "kind": entry.kind,
        "effective_h": round(f.adjusted.effective_s / SECONDS_PER_HOUR, 6),
        "raw_effective_h": round(f.raw.effective_s / SECONDS_PER_HOUR, 6),
        "completeness": round(f.adjusted.completeness, 6),
        "saturated": entry.saturated,
        "adjustments": list(f.adjustments),
    }


def saturation_json(report: SaturationReport) -> dict[str, Any]:
    return {
        **report.json_header("saturation"),
        "kind": report.kind,
        "threshold_h_per_year": report.threshold_h_per_year,
        "threshold_h": round(report.threshold_s / SECONDS_PER_HOUR, 6),
        "instruments": [_entry(e) for e in report.entries],
        "kinds": _summary(report),
    }


def saturation_sheets(report: SaturationReport) -> list[Sheet]:
    threshold_h = report.threshold_s / SECONDS_PER_HOUR
    rows = [
        {**_entry(e), "threshold_h": threshold_h, "saturated": "饱和" if e.saturated else "未饱和"}
        for e in report.entries
    ]
    columns = (
        Column("仪器类别", "kind"),
        col.INSTRUMENT,
        col.NAME,
        col.UNIT,
        col.EFFECTIVE_H,
        col.RAW_EFFECTIVE_H,
        Column("饱和阈值", "threshold_h", "hours"),
        Column("是否饱和", "saturated"),
        col.COMPLETENESS,
    )
    summary = [
        {**s, "all_saturated": "是" if s["all_saturated"] else "否"} for s in _summary(report)
    ]
    note = f"饱和标准：每年有效工作机时 ≥ {report.threshold_h_per_year:g} 小时（按统计期间折算）。"
    return [
        Sheet("机时饱和度", columns, rows, notes=(note,)),
        Sheet(
            "类别汇总",
            (
                Column("仪器类别", "kind"),
                col.INSTRUMENT_COUNT,
                Column("饱和台数", "saturated", "int"),
                Column("全部饱和", "all_saturated"),
                Column("平均有效工作机时", "mean_effective_h", "hours"),
            ),
            summary,
        ),
    ]
