"""The service-records total is the sum of the hours as the cells show them (issue 14): three
20-minute sessions show 0.33 h each, so the total row says 0.99 h, not the exact 1.00 h a
reader could not reproduce from the column."""

from __future__ import annotations

import io

import openpyxl

from jishi.collector.reports.output import render_csv, render_xlsx
from jishi.collector.reports.period import resolve_period
from jishi.collector.reports.records import (
    RecordsReport,
    ServiceRecord,
    records_json,
    records_sheets,
)
from jishi.collector.reports.settings import ReportSettings, platform_mapping
from jishi.collector.usage.engine import Session

START = 1_750_000_000.0
THIRD_H = 1200.0  # 20 minutes: 0.3333... h


def _report() -> RecordsReport:
    records = []
    for index in range(3):
        start = START + index * 3600
        records.append(
            ServiceRecord(
                instrument="nmr",
                instrument_name="NMR",
                unit=None,
                inner_id="NMR0001",
                session=Session(
                    start, start + THIRD_H, user_type="external", session_id=str(index)
                ),
                start=start,
                end=start + THIRD_H,
                hours=THIRD_H / 3600,
                hours_raw=THIRD_H / 3600,
                service_type=130,
                service_way="委托测试",
                direction_code=135,
                direction="科研",
            )
        )
    period = resolve_period(
        year=2025, start=None, end=None, timezone="Asia/Shanghai", now=START + 86_400 * 365
    )
    mapping = platform_mapping(ReportSettings())
    return RecordsReport(period, START, None, records, {}, [], mapping)


def test_xlsx_total_row_is_the_sum_of_its_cells() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(render_xlsx(records_sheets(_report()))))["服务记录"]
    header = [c.value for c in sheet[1]]
    column = header.index("服务机时") + 1
    cells = [sheet.cell(row, column).value for row in range(2, 5)]
    assert cells == [0.33, 0.33, 0.33]
    assert sheet.cell(5, 1).value == "合计"
    assert sheet.cell(5, column).value == 0.99
    assert sheet.cell(5, column + 1).value == 0.99  # 服务机时(原始) alike


def test_csv_and_json_totals_agree() -> None:
    report = _report()
    lines = render_csv(records_sheets(report)[0]).decode("utf-8-sig").splitlines()
    assert lines[-1].split(",")[6] == "0.99"
    total = records_json(report)["total"]
    assert (total["hours"], total["hours_raw"], total["external_hours"]) == (0.99, 0.99, 0.99)
