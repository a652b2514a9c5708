"""One entry point for every report and format, shared by ``jishi report`` and the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.reports.errors import ReportError
from jishi.collector.reports.lowuse import build_lowuse_report, lowuse_json, lowuse_sheets
from jishi.collector.reports.output import Sheet, render_csv, render_xlsx
from jishi.collector.reports.period import ReportPeriod
from jishi.collector.reports.reconciliation import (
    build_reconciliation_report,
    reconciliation_json,
    reconciliation_sheets,
)
from jishi.collector.reports.records import build_records_report, records_json, records_sheets
from jishi.collector.reports.saturation import (
    build_saturation_report,
    saturation_json,
    saturation_sheets,
)
from jishi.collector.reports.scope import ReportScope
from jishi.collector.reports.yearly import build_figures_report, figures_json, figures_sheets

ReportName = Literal[
    "figures", "service-records", "low-utilization", "saturation", "reconciliation"
]
Format = Literal["json", "csv", "xlsx"]
REPORT_NAMES: tuple[ReportName, ...] = (
    "figures",
    "service-records",
    "low-utilization",
    "saturation",
    "reconciliation",
)
FORMATS: tuple[Format, ...] = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Made:
    """A report before rendering: its JSON document and its tables."""

    name: ReportName
    document: dict[str, Any]
    sheets: list[Sheet]


@dataclass(frozen=True)
class Rendered:
    """A report rendered for download: bytes, media type and file name."""

    body: bytes
    media_type: str
    filename: str


def make_report(
    name: ReportName, conn: Connection, config: CollectorConfig, scope: ReportScope
) -> Made:
    if name == "figures":
        figures = build_figures_report(conn, config, scope)
        return Made(name, figures_json(figures), figures_sheets(figures))
    if name == "service-records":
        records = build_records_report(conn, config, scope)
        return Made(name, records_json(records), records_sheets(records))
    if name == "low-utilization":
        low = build_lowuse_report(conn, config, scope)
        return Made(name, lowuse_json(low), lowuse_sheets(low))
    if name == "saturation":
        if scope.instruments:
            raise ReportError("the saturation report selects instruments by --kind, not by id")
        saturation = build_saturation_report(conn, config, scope)
        return Made(name, saturation_json(saturation), saturation_sheets(saturation))
    if name == "reconciliation":
        checks = build_reconciliation_report(conn, config, scope)
        return Made(name, reconciliation_json(checks), reconciliation_sheets(checks))
    raise ReportError(f"unknown report {name!r}; choose one of {', '.join(REPORT_NAMES)}")


def render(made: Made, fmt: Format, period: ReportPeriod, sheet: int = 0) -> Rendered:
    """JSON (the document), CSV (one sheet, the first by default) or XLSX (every sheet)."""
    stem = f"jishi-{made.name}-{period.label.replace('..', '_').replace(':', '')}"
    if fmt == "json":
        body = json.dumps(made.document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    elif fmt == "csv":
        if not 0 <= sheet < len(made.sheets):
            raise ReportError(f"this report has {len(made.sheets)} table(s)")
        body = render_csv(made.sheets[sheet])
    elif fmt == "xlsx":
        body = render_xlsx(made.sheets)
    else:
        raise ReportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return Rendered(body, MEDIA_TYPES[fmt], f"{stem}.{fmt}")
