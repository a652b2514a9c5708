"""The console over HTTP on a real collector (in process, clock fixed): sign-in and its cookie,
no page without it, the attacker's tries (forged forms, open redirects, markup in names), and
every figure equal to the API's for the same period."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jishi.collector.api.tokens import TokenStore
from jishi.collector.ledger.db import Engines, migrate, open_engines

from support import messages as h
from support.api_day import ADMIN, DAY0, api_client, day_messages
from support.console_pages import figure_rows, shown

PAGES = ("/", "/usage", "/warnings", "/instrument/nmr", "/usage/download?format=csv")


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    engines = open_engines(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    migrate(engines)
    yield engines
    engines.dispose()


@pytest.fixture
def client(engines: Engines, tmp_path: Path) -> Iterator[httpx.Client]:
    xss = h.birth("xss", 0, DAY0, boot="boot-xss-01", hb=60.0, name="<script>alert(1)</script>")
    with api_client(engines, tmp_path, [*day_messages(), xss]) as http:
        yield http


def sign_in(client: httpx.Client, token: str, next_page: str = "/") -> httpx.Response:
    form = client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post("/signin", data={"csrf": csrf[1], "token": token, "next": next_page})


def test_no_page_without_the_cookie(client: httpx.Client) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin?next=%2F"), path
    assert client.get("/fleet/rows").status_code == 401  # the refresh script signs in itself
    client.cookies.set("jishi_session", "forged")
    assert client.get("/").status_code == 303
    page = client.get("/signin")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/static/console/console.js").status_code == 200


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_clears_it(
    client: httpx.Client,
) -> None:
    response = sign_in(client, "adm1n", "/usage")
    assert response.status_code == 303
    assert response.headers["location"] == "/usage"  # the token is in no address
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("jishi_session=adm1n;")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert client.get("/").status_code == 200
    csrf = client.cookies["jishi_csrf"]
    assert client.post("/signout", data={"csrf": "wrong"}).status_code == 400
    assert client.get("/").status_code == 200  # a forged sign-out did nothing
    out = client.post("/signout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert 'jishi_session=""' in out.headers["set-cookie"]
    assert "jishi_session" not in client.cookies
    assert client.get("/").status_code == 303


def test_sign_in_refuses_bad_tokens_and_forged_forms(client: httpx.Client) -> None:
    bad = sign_in(client, "nope")
    assert bad.status_code == 401 and "Unknown or revoked token." in bad.text
    assert "jishi_session" not in client.cookies
    # A form posted from elsewhere lacks this browser's check value (SameSite=Strict cookie).
    forged = httpx.post(
        f"{client.base_url}/signin", data={"csrf": "x", "token": "adm1n", "next": "/"}
    )
    assert forged.status_code == 400
    assert "jishi_session" not in forged.headers.get("set-cookie", "")


def test_https_makes_the_cookie_secure(client: httpx.Client) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a TLS proxy in front of the collector)
    client.headers["X-Forwarded-Proto"] = "https"
    response = sign_in(client, "adm1n")
    assert "Secure" in response.headers["set-cookie"]


def test_a_revoked_token_ends_the_session(client: httpx.Client, engines: Engines) -> None:
    store = TokenStore(engines)
    info, token = store.create("office", "read")
    assert sign_in(client, token).status_code == 303
    assert client.get("/").status_code == 200
    store.revoke(str(info.id))
    assert client.get("/").status_code == 303


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil", "/\t/evil.example/", ""]
)
def test_no_open_redirect(client: httpx.Client, target: str) -> None:
    assert sign_in(client, "adm1n", target).headers["location"] == "/"
    switched = client.get("/lang/zh", params={"next": target})
    assert switched.headers["location"] == "/"


def test_names_are_escaped(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    for path in ("/", "/instrument/xss", "/fleet/rows"):
        html = client.get(path).text
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_chinese_and_english(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    zh = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "仪器实时总览" in zh.text and '<html lang="zh-CN">' in zh.text
    assert "Fleet now" in client.get("/", headers={"Accept-Language": "en-GB"}).text
    week = {"day": "2025-06-15", "span": "week"}  # a Sunday: the week from Monday 06-09
    english = client.get("/instrument/nmr", params=week, headers={"Accept-Language": "en"}).text
    assert ">06-09 Mon<" in english and ">06-15 Sun<" in english
    client.get("/lang/zh", params={"next": "/usage"})
    assert "按管理单位" in client.get("/usage", headers={"Accept-Language": "en"}).text
    # The strip's weekdays are the page's words, not the server locale's.
    chinese = client.get("/instrument/nmr", params=week).text
    assert ">06-09 周一<" in chinese and ">06-15 周日<" in chinese and " Mon<" not in chinese


def test_fleet_equals_the_api(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    api = client.get("/api/v1/instruments", headers=ADMIN).json()
    html = client.get("/").text
    states = dict(re.findall(r'data-instrument="([^"]+)" data-state="([^"]+)"', html))
    assert states == {row["id"]: row["state"] for row in api}
    assert states["nmr"] == "unknown"  # last heard 12:00 the day before: stale
    usage = client.get(
        "/api/v1/usage", params={"start": "2025-06-16", "end": "2025-06-17"}, headers=ADMIN
    ).json()
    rows = figure_rows(html, "fleet")
    for item in usage["results"]:
        figures = shown(item)
        assert rows[item["instrument"]] == {
            "running_h": figures["running_h"],
            "effective_h": figures["effective_h"],
            "completeness": figures["completeness"],
        }
    only = client.get("/", params={"unit": "Materials"}).text
    assert re.findall(r'data-instrument="([^"]+)"', only) == ["sem"]


def test_usage_equals_the_api(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    period = {"start": "2025-06-01", "end": "2025-06-16T01:00"}
    html = client.get("/usage", params=period).text
    for group, table in (("unit", "by-unit"), ("month", "by-month")):
        api = client.get(
            "/api/v1/usage", params={**period, "group_by": group}, headers=ADMIN
        ).json()["results"]
        rows = figure_rows(html, table)
        assert set(rows) - {"total"} == {item[group] or "" for item in api}
        for item in api:
            want = shown(item)
            got = rows[item[group] or ""]
            assert got == {k: want[k] for k in got}, group
    nmr = figure_rows(html, "by-unit")["Analysis"]
    assert nmr["effective_h"] == "3.00" and nmr["completeness"] == "1.1%"


def test_usage_tables_download_is_the_page(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    period = {"start": "2025-06-01", "end": "2025-06-16T01:00"}
    api = client.get("/api/v1/usage", params={**period, "group_by": "unit"}, headers=ADMIN).json()[
        "results"
    ]
    got = client.get("/usage/tables", params={**period, "format": "csv", "table": "0"})
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["管理单位", "有效工作机时", "服务机时"]
    body = {row[0]: row for row in lines[1:]}
    assert set(body) == {item["unit"] or "(未指定)" for item in api} | {"合计"}
    for item in api:
        row = body[item["unit"] or "(未指定)"]
        assert row[1] == f"{item['effective_h']:.2f}" and row[7] == f"{item['completeness']:.4f}"
    months = client.get("/usage/tables", params={**period, "format": "csv", "table": "1"})
    assert months.content.decode("utf-8-sig").splitlines()[1].startswith("2025-06,")
    xlsx = client.get("/usage/tables", params={**period, "format": "xlsx"})
    assert xlsx.content[:2] == b"PK"
    assert client.get("/usage/tables", params={**period, "table": "2"}).status_code == 422


def test_download_is_the_report(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    period = {"start": "2025-06-01", "end": "2025-06-16"}
    page = client.get("/usage/download", params={**period, "format": "csv"})
    report = client.get(
        "/api/v1/reports/figures", params={**period, "format": "csv"}, headers=ADMIN
    )
    assert page.status_code == 200 and page.content == report.content
    assert "attachment" in page.headers["content-disposition"]
    xlsx = client.get("/usage/download", params={**period, "format": "xlsx"})
    assert xlsx.content[:2] == b"PK" and "spreadsheetml" in xlsx.headers["content-type"]


def test_instrument_equals_the_api(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    html = client.get("/instrument/nmr", params={"day": "2025-06-15"}).text
    api = client.get(
        "/api/v1/instruments/nmr/timeline",
        params={"start": "2025-06-15", "end": "2025-06-16"},
        headers=ADMIN,
    ).json()["intervals"]
    listed = re.findall(r'<tr id="iv-(\d+)" data-state="([^"]+)"', html)
    assert [s for _, s in listed] == [i["state"] for i in api]
    assert [s for s in ("running", "idle") if f"st st-{s}" in html] == ["running", "idle"]
    assert html.count('class="st st-') == len(api)
    assert "Offline" not in html and "Agent boot" in html  # the evidence of the known stretches
    days = client.get(
        "/api/v1/usage",
        params={"instrument": "nmr", "group_by": "day", "start": "2025-05-18", "end": "2025-06-17"},
        headers=ADMIN,
    ).json()["results"]
    rows = figure_rows(html, "daily-figures")
    assert len(rows) == 30 and set(rows) == {d["day"] for d in days}
    for item in days:
        want = shown(item)
        assert rows[item["day"]] == {
            k: want[k] for k in ("effective_h", "running_h", "completeness")
        }
    assert rows["2025-06-15"]["effective_h"] == "3.00"
    assert client.get("/instrument/none").status_code == 404
    assert client.get("/instrument/nmr", params={"day": "2030-01-01"}).status_code == 400
    assert client.get("/instrument/nmr", params={"day": "junk"}).status_code == 400


def test_warnings_equal_the_reports(client: httpx.Client) -> None:
    sign_in(client, "adm1n")
    html = client.get("/warnings", params={"year": 2025}).text
    low = client.get("/api/v1/reports/low-utilization", params={"year": 2025}, headers=ADMIN).json()
    rows = figure_rows(html, "low-use")
    assert set(rows) == {e["instrument"] for e in low["low_utilization"]} and rows
    for entry in low["low_utilization"]:
        want = shown(entry)
        assert rows[entry["instrument"]] == {k: want[k] for k in rows[entry["instrument"]]}
    full = client.get("/api/v1/reports/saturation", params={"year": 2025}, headers=ADMIN).json()
    assert set(figure_rows(html, "saturation")) == {e["instrument"] for e in full["instruments"]}
