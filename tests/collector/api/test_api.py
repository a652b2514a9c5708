"""The REST API: auth (401/403/revoked), 404/400, timeline, usage, sessions, CSV import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jishi.collector.api.tokens import TokenStore
from jishi.collector.ledger.db import Engines

from support.api_day import ADMIN, api_client, day_messages


@pytest.fixture
def client(engines: Engines, tmp_path: Path) -> Iterator[httpx.Client]:
    with api_client(engines, tmp_path, day_messages()) as http:
        yield http


def test_health_needs_no_token_and_other_routes_do(client: httpx.Client) -> None:
    assert client.get("/api/v1/health").json()["database"]["ok"] is True
    for path in (
        "/api/v1/instruments",
        "/api/v1/instruments/nmr",
        "/api/v1/metrics",
        "/api/v1/usage?start=2025-06-15&end=2025-06-16",
        "/api/v1/sessions",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert (
        client.get("/api/v1/instruments", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_roles_and_revocation(client: httpx.Client, engines: Engines) -> None:
    store = TokenStore(engines)
    info, read = store.create("dashboard", "read")
    _, write = store.create("booking", "write")
    rh, wh = {"Authorization": f"Bearer {read}"}, {"Authorization": f"Bearer {write}"}
    body = {
        "instrument": "nmr",
        "start": "2025-06-15T08:00:00+08:00",
        "end": "2025-06-15T09:00:00+08:00",
        "user": "wang",
        "user_type": "external",
    }
    assert client.get("/api/v1/instruments", headers=rh).status_code == 200
    assert client.post("/api/v1/sessions", json=body, headers=rh).status_code == 403
    assert client.post("/api/v1/sessions", json=body, headers=wh).status_code == 201
    assert client.get("/api/v1/dead-letters", headers=wh).status_code == 403
    store.revoke(str(info.id))
    assert client.get("/api/v1/instruments", headers=rh).status_code == 401
    assert [t.revoked_at is not None for t in store.list()] == [True, False]


def test_instruments_and_404(client: httpx.Client) -> None:
    items = client.get("/api/v1/instruments", headers=ADMIN).json()
    assert [(i["id"], i["name"], i["unit"]) for i in items] == [
        ("nmr", "NMR 400", "Analysis"),
        ("sem", "sem", "Materials"),
    ]
    # Last heartbeat was 12:00 the day before NOW: stale, so unknown.
    assert items[0]["state"] == "unknown"
    assert items[0]["online"] is True
    assert client.get("/api/v1/instruments/nope", headers=ADMIN).status_code == 404
    assert (
        client.get(
            "/api/v1/instruments/nope/timeline?start=2025-06-15&end=2025-06-16", headers=ADMIN
        ).status_code
        == 404
    )


def test_timeline_is_contiguous_with_unknown(client: httpx.Client) -> None:
    body = client.get(
        "/api/v1/instruments/nmr/timeline?start=2025-06-15T07:00:00%2B08:00"
        "&end=2025-06-15T13:00:00%2B08:00",
        headers=ADMIN,
    ).json()
    got = [(i["state"], i["start"][11:16], i["end"][11:16]) for i in body["intervals"]]
    assert got == [
        ("unknown", "23:00", "00:00"),
        ("running", "00:00", "02:00"),
        ("idle", "02:00", "02:05"),
        ("running", "02:05", "03:00"),
        ("idle", "03:00", "04:01"),
        ("unknown", "04:01", "05:00"),
    ]


@pytest.mark.parametrize(
    "query",
    [
        "start=2025-06-16&end=2025-06-15",
        "start=yesterday&end=2025-06-15",
        "start=2025-06-15&end=2025-06-16&group_by=week",
    ],
)
def test_bad_ranges_and_params_are_400s(client: httpx.Client, query: str) -> None:
    response = client.get(f"/api/v1/usage?{query}", headers=ADMIN)
    assert response.status_code in (400, 422)
    assert response.status_code == 400 or "group_by" in response.text


def test_usage_by_instrument_unit_and_day(client: httpx.Client) -> None:
    session = {
        "instrument": "nmr",
        "start": "2025-06-15T10:30:00+08:00",
        "end": "2025-06-15T11:30:00+08:00",
        "user": "zhao",
        "contact": "zhao@example.org",
        "user_type": "external",
    }
    assert client.post("/api/v1/sessions", json=session, headers=ADMIN).status_code == 201
    (stored,) = client.get("/api/v1/sessions?instrument=nmr", headers=ADMIN).json()
    assert (stored["user"], stored["contact"]) == ("zhao", "zhao@example.org")
    body = client.get(
        "/api/v1/usage?start=2025-06-15&end=2025-06-16&instrument=nmr", headers=ADMIN
    ).json()
    (nmr,) = body["results"]
    assert nmr["running_s"] == 175 * 60
    assert nmr["idle_s"] == 5 * 60 + 61 * 60 + 30  # last hb 11:59, fresh 150 s
    # Merged 5 min gap, plus idle inside the session 11:00-11:30.
    assert nmr["effective_s"] == 180 * 60 + 30 * 60
    assert nmr["external_service_s"] == 60 * 60
    assert nmr["service_s"] == 60 * 60
    assert nmr["effective_h"] == pytest.approx(3.5)
    by_unit = client.get(
        "/api/v1/usage?start=2025-06-15&end=2025-06-16&group_by=unit", headers=ADMIN
    ).json()["results"]
    assert [(u["unit"], u["running_s"]) for u in by_unit] == [("Analysis", 10500), ("Materials", 0)]
    days = client.get(
        "/api/v1/usage?start=2025-06-14&end=2025-06-16&group_by=day&instrument=nmr", headers=ADMIN
    ).json()["results"]
    assert [(d["day"], d["running_s"], d["completeness"] < 1) for d in days] == [
        ("2025-06-14", 0, True),
        ("2025-06-15", 10500, True),
    ]
    months = client.get(
        "/api/v1/usage?start=2025-06-01&end=2025-07-01&group_by=month", headers=ADMIN
    ).json()["results"]
    assert [(m["month"], m["running_s"]) for m in months] == [("2025-06", 10500)]


CSV_OK = """instrument,start,end,user,org,contact,user_type,service_way,direction,satisfaction,sample_count
nmr,2025-06-15 08:00,2025-06-15 09:00,li,PKU,010-62751234,external,委托测试,化学,5,3
nmr,2025-06-15T09:00:00+08:00,2025-06-15T10:00:00+08:00,wu,,,校内,,,,
"""
CSV_BAD = """instrument,start,end,user_type,sample_count
nmr,2025-06-15 08:00,2025-06-15 09:00,external,2
nmr,2025-06-15 10:00,2025-06-15 09:00,external,2
ghost,2025-06-15 08:00,2025-06-15 09:00,external,2
nmr,2025-06-15 08:00,2025-06-15 09:00,visitor,two
"""


def test_csv_import_is_all_or_nothing_with_line_numbers(client: httpx.Client) -> None:
    bad = client.post("/api/v1/sessions/import", content=CSV_BAD.encode(), headers=ADMIN)
    assert bad.status_code == 400
    assert [e["line"] for e in bad.json()["detail"]["errors"]] == [3, 4, 5]  # all at once
    assert client.get("/api/v1/sessions", headers=ADMIN).json() == []
    unknown = CSV_BAD.splitlines()[0] + "\n" + CSV_BAD.splitlines()[3] + "\n"
    bad = client.post("/api/v1/sessions/import", content=unknown.encode(), headers=ADMIN)
    assert bad.json()["detail"]["errors"] == [{"line": 2, "error": "unknown instrument 'ghost'"}]
    ok = client.post("/api/v1/sessions/import", content=CSV_OK.encode(), headers=ADMIN)
    assert ok.json() == {"imported": 2}
    again = client.post("/api/v1/sessions/import", content=CSV_OK.encode(), headers=ADMIN)
    assert again.json() == {"imported": 2}
    sessions = client.get("/api/v1/sessions?instrument=nmr", headers=ADMIN).json()
    assert [(s["user"], s["contact"], s["user_type"], s["start"]) for s in sessions] == [
        ("li", "010-62751234", "external", "2025-06-15T00:00:00.000Z"),
        ("wu", None, "internal", "2025-06-15T01:00:00.000Z"),
    ]


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    text = client.get("/api/v1/metrics", headers=ADMIN).text
    assert "# TYPE jishi_ingest_dead_letters_total counter" in text
    assert "jishi_instruments 2" in text
    assert "jishi_instruments_online 0" in text
