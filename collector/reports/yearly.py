"""Report 1: yearly figures per instrument and per management unit, with the platform's names.

Each instrument and unit carries raw figures (from the measured timeline, equal to the usage
API) and adjusted figures (with admins' corrections); the platform fields (``runMachine``,
``serviceMachine``) are taken from the adjusted figures through the configured mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.reports import columns as col
from jishi.collector.reports.adjust import Adjustment
from jishi.collector.reports.figures import (
    InstrumentFigures,
    UnitFigures,
    by_unit,
    compute_figures,
    figure_dict,
    period_trail,
    select_instruments,
)
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.reports.scope import ReportHeader, ReportScope
from jishi.collector.reports.settings import PlatformMapping, platform_mapping
from jishi.collector.reports.trail import STATE_NAMES, trail_json, trail_sheet
from jishi.collector.usage.engine import UsageFigures, sum_figures

CATEGORY_NAMES = {"general": "通用", "specialised": "专用"}


@dataclass(frozen=True)
class FiguresReport(ReportHeader):
    """The yearly figures (年总运行机时, 年服务机时) per instrument and management unit."""

    instruments: list[InstrumentFigures]
    units: list[UnitFigures]
    total_raw: UsageFigures
    total_adjusted: UsageFigures
    trail: list[Adjustment]
    mapping: PlatformMapping


def build_figures_report(
    conn: Connection, config: CollectorConfig, scope: ReportScope
) -> FiguresReport:
    rows = select_instruments(conn, unit=scope.unit, instruments=scope.instruments)
    items = compute_figures(conn, config, rows, scope)
    return FiguresReport(
        period=scope.period,
        generated_at=scope.now,
        unit=scope.unit,
        instruments=items,
        units=by_unit(items),
        total_raw=sum_figures(i.raw for i in items),
        total_adjusted=sum_figures(i.adjusted for i in items),
        trail=period_trail(conn, rows, scope.period),
        mapping=platform_mapping(config.reports),
    )


def platform_values(figures: UsageFigures, mapping: PlatformMapping) -> dict[str, float | None]:
    """The platform's yearly fields from jishi figures (hours to 2 decimals, as reported)."""
    values = figure_dict(figures)
    out: dict[str, float | None] = {}
    for name, source in mapping.yearly.items():
        value = values[source]
        out[name] = None if value is None else round(value, 2 if source.endswith("_h") else 4)
    return out


def figures_json(report: FiguresReport) -> dict[str, Any]:
    mapping = report.mapping
    tz = report.period.timezone

    def block(raw: UsageFigures, adjusted: UsageFigures) -> dict[str, Any]:
        return {
            "raw": figure_dict(raw),
            "adjusted": figure_dict(adjusted),
            "platform": platform_values(adjusted, mapping),
        }

    return {
        **report.json_header("figures"),
        "platform_mapping": {"yearly": mapping.yearly, "labels": mapping.yearly_labels},
        "instruments": [
            {
                "instrument": i.instrument,
                "name": i.name,
                "unit": i.unit,
                "category": i.category,
                "inner_id": i.inner_id,
                "quota_h_per_year": i.quota_h_per_year,
                "adjustments": list(i.adjustments),
                **block(i.raw, i.adjusted),
            }
            for i in report.instruments
        ],
        "units": [
            {"unit": u.unit, "instruments": u.instruments, **block(u.raw, u.adjusted)}
            for u in report.units
        ],
        "total": {
            "instruments": len(report.instruments),
            **block(report.total_raw, report.total_adjusted),
        },
        "adjustments": trail_json(report.trail, tz),
    }


def _figure_columns(mapping: PlatformMapping) -> list[Column]:
    """Each figure, those an adjustment can change beside their raw value, then the platform's."""
    service = Column("服务机时", "service_h", "hours")
    external = Column("对外服务机时", "external_service_h", "hours")
    columns = [
        col.QUOTA_H,
        col.EFFECTIVE_H,
        col.RAW_EFFECTIVE_H,
        service,
        col.raw_twin(service),
        external,
        col.raw_twin(external),
        Column("共享率", "share_rate", "ratio"),
        col.UTILIZATION,
        col.COMPLETENESS,
        col.raw_twin(col.COMPLETENESS),
        Column("可用率", "availability", "ratio"),
        *(Column(label, f"{state}_h", "hours") for state, label in STATE_NAMES.items()),
    ]
    for name in mapping.yearly:
        label = mapping.yearly_labels.get(name, name)
        columns.append(Column(f"{label}({name})", f"platform.{name}", "hours"))
    return columns


def _figure_row(
    raw: UsageFigures, adjusted: UsageFigures, mapping: PlatformMapping
) -> dict[str, Any]:
    row: dict[str, Any] = dict(figure_dict(adjusted))
    for key, value in figure_dict(raw).items():
        row[f"raw_{key}"] = value
    for name, value in platform_values(adjusted, mapping).items():
        row[f"platform.{name}"] = value
    return row


def figures_sheets(report: FiguresReport) -> list[Sheet]:
    """Sheets 仪器 (per instrument), 管理单位 (per unit), 调整记录 (audit trail)."""
    mapping = report.mapping
    figure_columns = _figure_columns(mapping)
    instrument_columns = [
        col.INSTRUMENT,
        col.NAME,
        col.INNER_ID,
        col.UNIT,
        Column("类别", "category"),
        *figure_columns,
        col.ADJUSTMENTS,
    ]
    instrument_rows = [
        {
            "instrument": i.instrument,
            "name": i.name,
            "inner_id": i.inner_id,
            "unit": i.unit,
            "category": CATEGORY_NAMES.get(i.category, i.category),
            "adjustments": col.adjustment_ids(i.adjustments),
            **_figure_row(i.raw, i.adjusted, mapping),
        }
        for i in report.instruments
    ]
    total = {
        "instrument": "合计",
        **_figure_row(report.total_raw, report.total_adjusted, mapping),
    }
    unit_columns = [col.UNIT, Column("仪器台数", "count", "int"), *figure_columns]
    unit_rows = [
        {
            "unit": u.unit or col.NO_UNIT,
            "count": u.instruments,
            **_figure_row(u.raw, u.adjusted, mapping),
        }
        for u in report.units
    ]
    unit_total = {"unit": "合计", "count": len(report.instruments), **total}
    unit_total["unit"] = "合计"
    note = (
        f"统计期间 {report.period.label} ({report.period.timezone})"
        + ("，截至生成时间" if report.period.partial else "")
        + "；比率为加权值；“原始”为未经调整的测量值。"
    )
    return [
        Sheet("仪器", instrument_columns, instrument_rows, total, notes=(note,)),
        Sheet("管理单位", unit_columns, unit_rows, unit_total, notes=(note,)),
        trail_sheet(report.trail, report.period.timezone),
    ]
