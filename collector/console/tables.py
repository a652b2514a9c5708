"""The usage page's two tables as report sheets, so that its download is written by the report
code (CSV with a BOM, XLSX with formats, cells no spreadsheet evaluates) under the reports'
Chinese headers."""

from __future__ import annotations

from collections.abc import Sequence

from jishi.collector.console.data import UsageTables
from jishi.collector.reports import columns as col
from jishi.collector.reports.figures import figure_dict
from jishi.collector.reports.output import Column, Sheet
from jishi.collector.usage.engine import UsageFigures

FIGURES = (
    col.EFFECTIVE_H,
    Column("服务机时", "service_h", "hours"),
    Column("对外服务机时", "external_service_h", "hours"),
    Column("共享率", "share_rate", "ratio"),
    Column("折算定额机时", "quota_h", "hours"),
    col.UTILIZATION,
    col.COMPLETENESS,
)
MONTH = Column("月份", "month")


def _rows(key: str, items: Sequence[tuple[str, UsageFigures]]) -> list[dict[str, object]]:
    return [{key: name or col.NO_UNIT, **figure_dict(f)} for name, f in items]


def usage_sheets(tables: UsageTables) -> list[Sheet]:
    """By management unit (with the total) and by month, as the page shows them."""
    total = {"unit": "合计", **figure_dict(tables.total)}
    return [
        Sheet("按管理单位", (col.UNIT, *FIGURES), _rows("unit", tables.by_unit), total=total),
        Sheet("按月", (MONTH, *FIGURES), _rows("month", tables.by_month)),
    ]
