"""The reconciliation report and the directory and booking routes, on the generated year
(issue 13): bookings laid over known days, each verdict where the truth puts it."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import openpyxl
import pytest

from collector.reports import scenario as sc
from collector.reports.conftest import make_client
from jishi.collector.api.tokens import TokenStore
from jishi.collector.config import CollectorConfig
from jishi.collector.ledger.db import Engines

# 2025-06-02 is a Monday: nmr-1 runs 08:30-12:00 and 12:05-17:00 (pattern A), 张三 signs in
# 08:00-12:00 and 李四 13:00-17:30. 06-03 sem-1 has 王五's staff session 09:00-11:00, no booking.
BOOKINGS = """instrument,start,end,user,title,booking_id
nmr-1,2025-06-02 08:00,2025-06-02 10:00,张三,1H,zhang
nmr-1,2025-06-02 13:00,2025-06-02 17:30,李四,13C,li
nmr-1,2025-06-02 19:00,2025-06-02 20:00,赵六,evening,zhao
nmr-1,2025-06-03 12:00,2025-06-03 13:00,钱七,noon,qian
"""
DIRECTORY = "账号,姓名,单位,用户类型\n张三,张三,外校甲大学,校外\n李四,李四,本校化学系,校内\n"
PERIOD = {"start": "2025-06-02", "end": "2025-06-04", "instrument": ["nmr-1", "sem-1"]}


@pytest.fixture(scope="module")
def tokens(year_ledger: tuple[CollectorConfig, Engines]) -> tuple[dict[str, str], dict[str, str]]:
    store = TokenStore(year_ledger[1])
    _, read = store.create("office", "read")
    _, write = store.create("booking-system", "write")
    return {"Authorization": f"Bearer {read}"}, {"Authorization": f"Bearer {write}"}


@pytest.fixture(scope="module")
def client(
    year_ledger: tuple[CollectorConfig, Engines], tokens: tuple[dict[str, str], dict[str, str]]
) -> Iterator[httpx.Client]:
    with make_client(year_ledger[0]) as http:
        _, write = tokens
        imported = http.post(
            "/api/v1/bookings/import", content=BOOKINGS.encode("gbk"), headers=write
        )
        assert imported.json() == {"imported": 4}
        directory = http.post(
            "/api/v1/directory/import", content=DIRECTORY.encode("gbk"), headers=write
        )
        assert directory.json() == {"imported": 2}
        yield http


def test_each_verdict_where_the_day_puts_it(client: httpx.Client) -> None:
    doc = client.get("/api/v1/reports/reconciliation", params=PERIOD).json()
    verdicts = {b["booking_id"].split(":")[1]: b["verdicts"] for b in doc["bookings"]}
    assert verdicts == {
        "zhang": ["overrun"],  # signed in until 12:00, booked until 10:00
        "li": ["ok"],
        "zhao": ["no_show"],
        "qian": ["running_without_session"],  # ran 12:05-13:00, nobody signed in
    }
    # docs/sessions.md's worked example, row by row.
    hours = {
        b["booking_id"].split(":")[1]: (b["signed_in_h"], b["running_h"], b["overrun_h"])
        for b in doc["bookings"]
    }
    assert hours == {
        "zhang": (2.0, 1.5, 2.0),
        "li": (4.5, 4.0, 0.0),
        "zhao": (0.0, 0.0, 0.0),
        "qian": (0.0, 0.92, 0.0),
    }
    sessions = {(s["instrument"], s["user"], s["start"][:10]): s for s in doc["sessions"]}
    assert sessions["sem-1", "王五", "2025-06-03"]["verdicts"] == ["no_booking"]
    assert sessions["nmr-1", "张三", "2025-06-02"]["verdicts"] == ["overrun"]
    assert sessions["nmr-1", "李四", "2025-06-02"]["verdicts"] == ["ok"]
    # 王五 is not in the directory; 张三 and 李四 are.
    assert [u["user"] for u in doc["unmatched_accounts"]] == ["王五"]


def test_the_whole_fleet_in_chunks_gives_the_same_rows(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bookings and sessions are read for many instruments per query: chunks of one instrument
    and one chunk of all give the same report (instruments without either are skipped)."""
    from jishi.collector.reports import reconciliation

    params = {"start": "2025-06-01", "end": "2025-06-09"}
    whole = client.get("/api/v1/reports/reconciliation", params=params).json()
    assert len(whole["bookings"]) == 4 and len(whole["sessions"]) >= 3
    monkeypatch.setattr(reconciliation, "_CHUNK", 1)
    assert client.get("/api/v1/reports/reconciliation", params=params).json() == whole


def test_signed_in_but_never_running(
    client: httpx.Client, tokens: tuple[dict[str, str], dict[str, str]]
) -> None:
    _, write = tokens
    body = {  # a Saturday: sem-1 is off all day
        "instrument": "sem-1",
        "start": "2025-06-07T10:00:00+08:00",
        "end": "2025-06-07T11:00:00+08:00",
        "user": "ghost",
    }
    assert client.post("/api/v1/sessions", json=body, headers=write).status_code == 201
    params = {"start": "2025-06-07", "end": "2025-06-08", "instrument": "sem-1"}
    doc = client.get("/api/v1/reports/reconciliation", params=params).json()
    assert [s["verdicts"] for s in doc["sessions"]] == [["no_booking", "never_running"]]


def test_csv_and_xlsx_have_chinese_headers_and_neutralised_cells(
    client: httpx.Client, tokens: tuple[dict[str, str], dict[str, str]]
) -> None:
    _, write = tokens
    evil = "instrument,start,end,user,booking_id\nnmr-1,2025-06-03 18:00,2025-06-03 19:00,=cmd|' /C calc'!A0,evil\n"
    assert client.post("/api/v1/bookings/import", content=evil, headers=write).status_code == 200
    text = client.get(
        "/api/v1/reports/reconciliation", params={**PERIOD, "format": "csv"}
    ).content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("仪器编号,仪器名称,预约编号,预约人")
    assert "'=cmd|" in text and "未到场" in text
    book = openpyxl.load_workbook(
        io.BytesIO(
            client.get(
                "/api/v1/reports/reconciliation", params={**PERIOD, "format": "xlsx"}
            ).content
        )
    )
    assert book.sheetnames == ["预约核对", "上机核对", "未匹配账号"]


def test_routes_by_role(
    client: httpx.Client, tokens: tuple[dict[str, str], dict[str, str]]
) -> None:
    read, write = tokens
    entry = [{"account": "sunba", "user_type": "external", "card": "0099"}]
    assert client.post("/api/v1/directory", json=entry, headers=read).status_code == 403
    assert client.post("/api/v1/directory", json=entry, headers=write).json() == {"stored": 1}
    assert (
        client.post("/api/v1/directory/import", content=DIRECTORY, headers=read).status_code == 403
    )
    listed = client.get("/api/v1/directory", headers=read).json()
    assert [e["account"] for e in listed] == ["sunba", "张三", "李四"]
    assert client.delete("/api/v1/directory/sunba", headers=read).status_code == 403
    assert client.delete("/api/v1/directory/sunba", headers=write).status_code == 200
    assert client.delete("/api/v1/directory/sunba", headers=write).status_code == 404
    assert client.get("/api/v1/directory/unmatched", headers=read).status_code == 200
    window = {"start": "2025-06-02", "end": "2025-06-03", "instrument": "nmr-1"}
    got = client.get("/api/v1/bookings", params=window, headers=read).json()
    assert [b["user"] for b in got] == ["张三", "李四", "赵六"]
    assert client.post("/api/v1/bookings/import", content=BOOKINGS, headers=read).status_code == 403
    reconcile = "/api/v1/reports/reconciliation"
    assert client.get(reconcile, params=PERIOD, headers=read).status_code == 200
    assert httpx.get(str(client.base_url.join(reconcile))).status_code == 401
    bad = "instrument,start,end\nnmr-1,2025-06-02 10:00,2025-06-02 09:00\nghost,2025-06-02,2025-06-03\n"
    refused = client.post("/api/v1/bookings/import", content=bad, headers=write)
    assert refused.status_code == 400
    assert [e["line"] for e in refused.json()["detail"]["errors"]] == [2, 3]


def test_a_calendar_upload_replaces_its_feed(
    client: httpx.Client, tokens: tuple[dict[str, str], dict[str, str]]
) -> None:
    from pathlib import Path

    _, write = tokens
    ics = (Path(__file__).parents[1] / "ingest" / "ics" / "nmr600.ics").read_bytes()
    headers = {**write, "Content-Type": "text/calendar"}
    assert client.post("/api/v1/bookings/import", content=ics, headers=headers).status_code == 400
    params = {"instrument": "nmr-1", "feed": "nmr600"}
    # NOW is 2026-03-01; the fixture's events are in March 2025, outside the default window.
    done = client.post("/api/v1/bookings/import", content=ics, headers=headers, params=params)
    assert done.json() == {"imported": 0}
    assert sc.NOW > 0


def test_service_records_take_type_and_org_from_the_directory(
    client: httpx.Client, tokens: tuple[dict[str, str], dict[str, str]]
) -> None:
    read, write = tokens
    # 2025-06-04 (pattern A): 12:00-13:00 holds a 5-minute idle gap then running, 1 h effective.
    body = {
        "instrument": "nmr-1",
        "start": "2025-06-04T12:00:00+08:00",
        "end": "2025-06-04T13:00:00+08:00",
        "user": "0077",  # a card number, as a card reader signs in
        "session_id": "card-0077",
    }
    assert client.post("/api/v1/sessions", json=body, headers=write).status_code == 201
    params = {"start": "2025-06-04", "end": "2025-06-05", "instrument": "nmr-1"}

    def record() -> list[tuple[int, str, float]]:
        doc = client.get("/api/v1/reports/service-records", params=params, headers=read).json()
        return [
            (r["serviceType"], r["applicantUnit"], r["serviceAmount"])
            for r in doc["records"]
            if r["serviceTime"].endswith(" 12")
        ]

    def external_s() -> float:
        usage = client.get("/api/v1/usage", params={**params, "group_by": "instrument"})
        return float(usage.json()["results"][0]["external_service_s"])

    assert record() == []  # unclassified: not a service record
    before = external_s()
    entry = {"account": "zhouwu", "card": "0077", "user_type": "external", "org": "某研究所"}
    assert client.post("/api/v1/directory", json=[entry], headers=write).status_code == 200
    assert record() == [(130, "某研究所", 1.0)]
    assert external_s() == before + 3600  # the usage figures follow the directory too
    entry["user_type"] = "internal"  # corrected: the past record follows
    assert client.post("/api/v1/directory", json=[entry], headers=write).status_code == 200
    assert record() == [(120, "某研究所", 1.0)]
