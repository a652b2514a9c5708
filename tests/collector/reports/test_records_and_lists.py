"""Service records, the low-utilization list and the saturation report on the generated year."""

from __future__ import annotations

import io
from collections import Counter

import httpx
import openpyxl

from collector.reports import scenario as sc
from collector.reports import truth
from jishi.collector.config import CollectorConfig
from jishi.collector.ledger.db import Engines
from jishi.collector.reports.make import make_report
from jishi.collector.reports.period import resolve_period
from jishi.collector.reports.scope import ReportScope
from jishi.collector.reports.settings import RECORD_KEYS, PlatformConfig

NMR, SEM1, SEM2, XRD = sc.INSTRUMENTS


def test_one_service_record_per_service_session_with_platform_names(api: httpx.Client) -> None:
    doc = api.get("/api/v1/reports/service-records", params={"year": 2025}).json()
    a_days = {i.id: sc.pattern_count(i, "A") for i in sc.INSTRUMENTS}
    assert a_days["nmr-1"] == 253 and a_days["sem-1"] == 157
    records = doc["records"]
    assert len(records) == 2 * (a_days["nmr-1"] + a_days["sem-1"])
    # Staff sessions (sem-1's quiet days) are not service: counted, not listed.
    assert doc["excluded_sessions"] == {"staff": sc.pattern_count(SEM1, "Bs")}
    assert list(records[0]) == [
        "innerId",
        "serviceTime",
        "endTime",
        "serviceAmount",
        "serviceType",
        "serviceWay",
        "serviceDirection",
        "applicant",
        "applicantUnit",
        "applicantContact",
        "satisfaction",
    ]
    assert records[0] == {
        "innerId": "NMR0001",
        "serviceTime": "2025-01-01 08",
        "endTime": "2025-01-01 12",
        "serviceAmount": 4.0,
        "serviceType": 130,
        "serviceWay": "委托共享",
        "serviceDirection": 135,
        "applicant": "张三",
        "applicantUnit": "外校甲大学",
        "applicantContact": "13800000001",
        "satisfaction": 5.0,
    }
    assert records[1]["applicantContact"] is None  # no contact given for 李四
    assert records[1]["serviceAmount"] == 4.5  # 13:00-17:30: 4 h running + 30 min idle
    assert (records[1]["serviceType"], records[1]["serviceWay"]) == (120, "占用共享")
    assert records[1]["serviceDirection"] == 137  # "teaching"
    by_kind = Counter((r["innerId"], r["serviceType"], r["serviceAmount"]) for r in records)
    assert by_kind == {
        ("NMR0001", 130, 4.0): 253,
        ("NMR0001", 120, 4.5): 253,
        ("SEM0001", 130, 4.0): 157,
        ("SEM0001", 120, 4.5): 157,
    }
    # The records add up to serviceMachine of the yearly figures (sessions do not overlap).
    figures = api.get("/api/v1/reports/figures", params={"year": 2025}).json()
    for item in figures["instruments"]:
        hours = sum(r["serviceAmount"] for r in records if r["innerId"] == item["inner_id"])
        assert round(hours, 2) == item["platform"]["serviceMachine"]
    assert doc["total"] == {
        "records": 820,
        "hours": 3485.0,
        "hours_raw": 3485.0,
        "external_hours": 1640.0,
    }


def test_service_records_xlsx(api: httpx.Client) -> None:
    response = api.get(
        "/api/v1/reports/service-records",
        params={"year": 2025, "format": "xlsx", "unit": "化学学院"},
    )
    assert response.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(response.content))["服务记录"]
    header = [c.value for c in ws[1]]
    assert header[:11] == [
        "仪器内部编号",
        "仪器编号",
        "仪器名称",
        "管理单位",
        "服务开始时间",
        "服务结束时间",
        "服务机时",
        "服务机时(原始)",
        "服务类型",
        "服务方式",
        "服务方向",
    ]
    assert [ws.cell(2, k).value for k in range(1, 12)] == [
        "NMR0001",
        "nmr-1",
        "核磁共振波谱仪",
        "化学学院",
        "2025-01-01 08",
        "2025-01-01 12",
        4.0,
        4.0,
        130,
        "委托共享",
        135,
    ]
    contact = [c.value for c in ws[1]].index("联系方式") + 1
    assert [ws.cell(row, contact).value for row in (2, 3)] == ["13800000001", None]
    total_row = 2 + 2 * 253
    assert ws.cell(total_row, 1).value == "合计"
    assert ws.cell(total_row, 7).value == 253 * 8.5
    assert ws.cell(total_row, 7).number_format == "0.00"


def test_low_utilization_lists_completeness_and_separates_missing_data(api: httpx.Client) -> None:
    doc = api.get("/api/v1/reports/low-utilization", params={"year": 2025}).json()
    assert doc["utilization_below"] == 0.5
    low = {e["instrument"]: e for e in doc["low_utilization"]}
    assert list(low) == ["xrd-1", "sem-2"]  # lowest utilization first
    xrd = truth.seconds("xrd-1")
    assert low["xrd-1"]["utilization"] == round(xrd["effective_s"] / xrd["quota_s"], 6) == 0.208
    assert low["xrd-1"]["completeness"] == 1.0
    assert low["xrd-1"]["verdict"] == "under_used"
    sem2 = truth.seconds("sem-2")
    assert low["sem-2"]["effective_h"] == 345.0
    assert low["sem-2"]["utilization"] == round(345 / 800, 6)
    assert low["sem-2"]["completeness"] == round(1 - 60 / 365, 6)
    assert low["sem-2"]["utilization_upper_bound"] == round(
        (sem2["effective_s"] + sem2["unknown_s"]) / sem2["quota_s"], 6
    )
    assert low["sem-2"]["verdict"] == "under_used_or_data_missing"
    assert [e["instrument"] for e in doc["low_completeness"]] == ["sem-2"]
    assert {u["unit"]: (u["low_utilization"], u["low_completeness"]) for u in doc["units"]} == {
        "化学学院": (0, 0),
        "材料学院": (1, 1),
        "物理学院": (1, 0),
    }
    sheets = openpyxl.load_workbook(
        io.BytesIO(
            api.get(
                "/api/v1/reports/low-utilization", params={"year": 2025, "format": "xlsx"}
            ).content
        )
    )
    ws = sheets["使用率偏低"]
    header = [c.value for c in ws[1]]
    assert header[header.index("数据完整率")] == "数据完整率"
    assert ws.cell(3, 1).value == "sem-2"
    assert ws.cell(3, header.index("结论") + 1).value == "使用不足或数据缺失"
    assert ws.cell(3, header.index("数据完整率") + 1).value == round(1 - 60 / 365, 6)
    assert sheets["数据完整率偏低"].cell(2, 1).value == "sem-2"


def test_saturation_per_kind_with_prorated_threshold(api: httpx.Client) -> None:
    doc = api.get("/api/v1/reports/saturation", params={"year": 2025}).json()
    assert doc["threshold_h"] == 1200.0
    rows = {
        e["instrument"]: (e["kind"], e["effective_h"], e["saturated"]) for e in doc["instruments"]
    }
    assert rows == {
        "nmr-1": ("核磁", 2403.5, True),
        "sem-1": ("电镜", 1699.5, True),
        "sem-2": ("电镜", 345.0, False),
        "xrd-1": ("未分类", 208.0, False),
    }
    kinds = {
        k["kind"]: (k["instruments"], k["saturated"], k["all_saturated"]) for k in doc["kinds"]
    }
    assert kinds == {"核磁": (1, 1, True), "电镜": (2, 1, False), "未分类": (1, 0, False)}
    half = api.get(
        "/api/v1/reports/saturation",
        params={"start": "2025-01-01", "end": "2025-07-01", "kind": "电镜"},
    ).json()
    assert half["threshold_h"] == round(1200 * 181 / 365, 6)
    assert [e["instrument"] for e in half["instruments"]] == ["sem-1", "sem-2"]
    missing = api.get("/api/v1/reports/saturation", params={"year": 2025, "kind": "质谱"})
    assert missing.status_code == 404 and "known kinds: 电镜, 核磁" in missing.json()["detail"]


def test_bad_parameters_give_clear_errors(api: httpx.Client) -> None:
    cases = [
        ({"year": 2025, "unit": "不存在学院"}, 404, "no management unit '不存在学院'; known units"),
        ({"start": "2025-06-01", "end": "2025-01-01"}, 400, "inverted"),
        ({"year": 2027}, 400, "year 2027 is in the future"),
        ({"start": "2026-06-01", "end": "2026-07-01"}, 400, "in the future"),
        ({"start": "yesterday", "end": "2025-01-01"}, 400, "not a date or time"),
        ({"year": 2025, "start": "2025-01-01"}, 400, "either --year or --start/--end"),
        ({"year": 2025, "instrument": "nope"}, 404, "no instrument(s) nope"),
    ]
    for params, status, text in cases:
        response = api.get("/api/v1/reports/figures", params=params)
        assert response.status_code == status, (params, response.text)
        assert text in response.json()["detail"], (params, response.json())
    assert api.get("/api/v1/reports/figures", params={"format": "pdf"}).status_code == 422
    assert api.get("/api/v1/reports/nonsense").status_code == 422
    assert httpx.get(f"{api.base_url}/api/v1/reports/figures").status_code == 401


def test_current_year_ends_now_and_says_so(api: httpx.Client) -> None:
    doc = api.get("/api/v1/reports/figures", params={"year": 2026}).json()
    assert doc["period"]["partial"] is True
    assert doc["period"]["end"] == "2026-03-01T12:00:00+08:00"
    # Nothing observed in 2026 (the agents stopped at the end of 2025 plus their freshness).
    assert doc["total"]["raw"]["period_s"] == 4 * (31 + 28 + 0.5) * 86_400


def test_every_record_field_can_be_mapped_to_the_platform(
    year_ledger: tuple[CollectorConfig, Engines],
) -> None:
    """``[reports.platform] record_fields`` may name any of RECORD_KEYS, session fields too."""
    config, engines = year_ledger
    every = PlatformConfig(record_fields={key: key for key in RECORD_KEYS})
    config = config.model_copy(
        update={"reports": config.reports.model_copy(update={"platform": every})}
    )
    period = resolve_period(year=2025, start=None, end=None, timezone=sc.TZ, now=sc.NOW)
    with engines.read.connect() as conn:
        made = make_report(
            "service-records", conn, config, ReportScope(period, sc.NOW, instruments=["nmr-1"])
        )
    first = made.document["records"][0]
    assert {key: first[key] for key in RECORD_KEYS} == {
        "instrument": "nmr-1",
        "instrument_name": "核磁共振波谱仪",
        "unit": "化学学院",
        "inner_id": "NMR0001",
        "start": "2025-01-01 08",
        "end": "2025-01-01 12",
        "hours": 4.0,
        "hours_raw": 4.0,
        "service_type": 130,
        "user_type": "external",
        "service_way": "委托共享",
        "direction_code": 135,
        "direction": "科研",
        "user": "张三",
        "org": "外校甲大学",
        "contact": "13800000001",
        "satisfaction": 5.0,
        "sample_count": None,
        "session_id": "nmr-1-2025-01-01-0",
    }
