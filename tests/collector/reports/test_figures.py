"""Yearly figures: exact against the generated year's truth, equal to the usage API, XLSX cells."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import openpyxl

from collector.reports import truth

UNITS = {"化学学院": ["nmr-1"], "材料学院": ["sem-1", "sem-2"], "物理学院": ["xrd-1"]}


def check_exact(block: dict[str, Any], expected: dict[str, float]) -> None:
    # The truth names every figure (seconds); the block carries each in seconds and hours.
    assert {key for key in block if key.endswith("_s")} == set(expected)
    for key, value in expected.items():
        assert block[key] == round(value, 3), key
        assert block[key.removesuffix("_s") + "_h"] == round(value / 3600, 6), key
    for name, ratio in truth.ratios(expected).items():
        assert block[name] == (None if ratio is None else round(ratio, 6)), name


def test_every_figure_per_instrument_unit_and_total_is_exact(api: httpx.Client) -> None:
    response = api.get("/api/v1/reports/figures", params={"year": 2025})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["period"]["label"] == "2025" and doc["period"]["partial"] is False
    assert [i["instrument"] for i in doc["instruments"]] == ["nmr-1", "sem-1", "sem-2", "xrd-1"]
    for item in doc["instruments"]:
        expected = truth.seconds(item["instrument"])
        check_exact(item["raw"], expected)
        assert item["adjusted"] == item["raw"]  # no adjustments in this ledger
        assert item["platform"] == {
            "runMachine": round(expected["effective_s"] / 3600, 2),
            "serviceMachine": round(expected["service_s"] / 3600, 2),
        }
    nmr = doc["instruments"][0]
    assert nmr["inner_id"] == "NMR0001" and nmr["unit"] == "化学学院"
    assert nmr["platform"] == {"runMachine": 2403.5, "serviceMachine": 2150.5}
    assert [u["unit"] for u in doc["units"]] == sorted(UNITS)
    for unit in doc["units"]:
        members = UNITS[unit["unit"]]
        assert unit["instruments"] == len(members)
        check_exact(unit["raw"], truth.summed(members))
    check_exact(doc["total"]["raw"], truth.summed([i for m in UNITS.values() for i in m]))
    assert doc["adjustments"] == []


def test_report_figures_equal_the_usage_api(api: httpx.Client) -> None:
    report = api.get("/api/v1/reports/figures", params={"year": 2025}).json()
    params = {"start": "2025-01-01", "end": "2026-01-01"}
    usage = api.get("/api/v1/usage", params={**params, "group_by": "instrument"}).json()
    for mine, theirs in zip(report["instruments"], usage["results"], strict=True):
        assert mine["instrument"] == theirs["instrument"]
        raw = {k: v for k, v in mine["raw"].items() if k != "availability"}
        assert raw == {k: v for k, v in theirs.items() if k not in ("instrument", "name", "unit")}
    by_unit = api.get("/api/v1/usage", params={**params, "group_by": "unit"}).json()
    for mine, theirs in zip(report["units"], by_unit["results"], strict=True):
        raw = {k: v for k, v in mine["raw"].items() if k != "availability"}
        assert raw == {k: v for k, v in theirs.items() if k != "unit"}
    # The same for a range that cuts months, and for one unit.
    ranged = api.get(
        "/api/v1/reports/figures",
        params={"start": "2025-03-05", "end": "2025-09-17T12:00", "unit": "材料学院"},
    ).json()
    usage = api.get(
        "/api/v1/usage",
        params={"start": "2025-03-05", "end": "2025-09-17T12:00", "unit": "材料学院"},
    ).json()
    assert [i["instrument"] for i in ranged["instruments"]] == ["sem-1", "sem-2"]
    for mine, theirs in zip(ranged["instruments"], usage["results"], strict=True):
        assert {k: v for k, v in mine["raw"].items() if k != "availability"} == {
            k: v for k, v in theirs.items() if k not in ("instrument", "name", "unit")
        }


def test_csv_has_chinese_headers_and_a_total_row(api: httpx.Client) -> None:
    response = api.get("/api/v1/reports/figures", params={"year": 2025, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:5] == ["仪器编号", "仪器名称", "平台内部编号", "管理单位", "类别"]
    assert "年总运行机时(runMachine)" in header and "年服务机时(serviceMachine)" in header
    col = {name: k for k, name in enumerate(header)}
    body = {r[0]: r for r in rows[1:]}
    assert body["nmr-1"][col["有效工作机时"]] == "2403.50"
    assert body["sem-2"][col["类别"]] == "专用"
    assert body["sem-2"][col["数据完整率"]] == f"{1 - 60 / 365:.4f}"
    effective = sum(truth.seconds(i)["effective_s"] for i in truth.QUOTA_H) / 3600
    assert body["合计"][col["有效工作机时"]] == f"{effective:.2f}"
    unit_csv = api.get(
        "/api/v1/reports/figures", params={"year": 2025, "format": "csv", "table": 1}
    ).content.decode("utf-8-sig")
    unit_rows = list(csv.reader(io.StringIO(unit_csv)))
    assert unit_rows[0][:2] == ["管理单位", "仪器台数"]
    assert [r[0] for r in unit_rows[1:]] == [*sorted(UNITS), "合计"]


def test_xlsx_cells_headers_and_totals(api: httpx.Client) -> None:
    response = api.get("/api/v1/reports/figures", params={"year": 2025, "format": "xlsx"})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["仪器", "管理单位", "调整记录"]
    ws = book["仪器"]
    header = [c.value for c in ws[1]]
    col = {name: k + 1 for k, name in enumerate(header)}
    assert header[:5] == ["仪器编号", "仪器名称", "平台内部编号", "管理单位", "类别"]
    ids = list(truth.QUOTA_H)
    for row, instrument in enumerate(ids, start=2):
        expected = truth.seconds(instrument)
        ratios = truth.ratios(expected)
        assert ws.cell(row, 1).value == instrument
        assert ws.cell(row, col["有效工作机时"]).value == round(expected["effective_s"] / 3600, 6)
        assert ws.cell(row, col["有效工作机时"]).number_format == "0.00"
        assert ws.cell(row, col["服务机时"]).value == round(expected["service_s"] / 3600, 6)
        assert ws.cell(row, col["对外服务机时"]).value == round(
            expected["external_service_s"] / 3600, 6
        )
        assert ws.cell(row, col["定额机时"]).value == truth.QUOTA_H[instrument]
        assert ws.cell(row, col["数据完整率"]).value == round(ratios["completeness"], 6)
        assert ws.cell(row, col["可用率"]).value == round(ratios["availability"] or 0, 6)
        assert ws.cell(row, col["年总运行机时(runMachine)"]).value == round(
            expected["effective_s"] / 3600, 2
        )
    total_row = len(ids) + 2
    total = truth.summed(ids)
    assert ws.cell(total_row, 1).value == "合计"
    assert ws.cell(total_row, 1).font.bold
    assert ws.cell(total_row, col["有效工作机时"]).value == round(total["effective_s"] / 3600, 6)
    assert ws.cell(total_row, col["定额机时"]).value == 4600.0
    assert ws.cell(total_row, col["共享率"]).value == round(
        total["external_service_s"] / total["effective_s"], 6
    )
    units = book["管理单位"]
    assert [c.value for c in units[1]][:3] == ["管理单位", "仪器台数", "定额机时"]
    assert [units.cell(r, 1).value for r in range(2, 6)] == [*sorted(UNITS), "合计"]
    assert [units.cell(r, 2).value for r in range(2, 6)] == [1, 2, 1, 4]
    assert units.cell(3, 4).value == round(
        truth.summed(["sem-1", "sem-2"])["effective_s"] / 3600, 6
    )
