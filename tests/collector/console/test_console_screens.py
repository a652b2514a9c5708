"""The console over a month of a small lab's history (in process, clock fixed), in Chromium:
the pictures in docs/console.md. A day of the NMR shows every state, the agent's outage as
unknown, sessions and an adjustment; usage spans two months. Screenshots go to
test-artifacts/console/docs/ (copied by hand to docs/img/console/ when the pages change)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.service import start_collector

from support import messages as h
from support.ledger import feed, make_config, make_pipeline
from support.servers import require_binary

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 6, 16)  # a Monday
NOW = datetime(2025, 6, 16, 20, 0, tzinfo=ZONE).timestamp()
SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console" / "docs"
STEP_S = 300.0  # heartbeats every 5 min
ADMIN = {"Authorization": "Bearer adm1n"}
# id: (name, unit, category, day plan as (from hour, state) steps)
FLEET = {
    "nmr-600": ("600 MHz NMR spectrometer", "chemistry-centre", "general",
                [(0, "off"), (8, "idle"), (9, "running"), (12, "idle"), (13, "running"),
                 (17.5, "idle"), (18.5, "off")]),
    "sem-01": ("Scanning electron microscope", "materials-lab", "general",
               [(0, "off"), (9, "idle"), (10, "running"), (11.5, "idle"), (14, "running"),
                (16, "off")]),
    "seq-nextseq": ("NextSeq 550 sequencer", "genomics-core", "specialised",
                    [(0, "idle"), (8, "running"), (22, "idle")]),
}  # fmt: skip
# On DAY the NMR also has a fault, a maintenance hour and an agent outage (unknown).
NMR_DAY = [(13.25, "fault"), (13 + 55 / 60, "running"), (15, "maintenance"), (16, "running")]
OUTAGE = (10.5, 11.25)


def _state_at(plan: list[tuple[float, str]], hour: float) -> str:
    return [s for at, s in plan if at <= hour][-1]


def _history() -> list[tuple[str, bytes]]:
    msgs = []
    first = DAY - timedelta(days=40)
    for ident, (name, unit, category, plan) in FLEET.items():
        boot = f"boot-{ident}"
        start = datetime(first.year, first.month, first.day, tzinfo=ZONE).timestamp()
        msgs.append(h.birth(ident, 0, start, boot=boot, hb=STEP_S, name=name, unit=unit,
                            category=category))  # fmt: skip
        seq, ts, since, last = 1, start, start, ""
        while ts < NOW:
            local = datetime.fromtimestamp(ts, ZONE)
            hour = local.hour + local.minute / 60
            day_plan = (
                sorted(plan + NMR_DAY) if ident == "nmr-600" and local.date() == DAY else plan
            )
            weekend = local.weekday() >= 5 and ident != "seq-nextseq"
            state = "off" if weekend else _state_at(day_plan, hour)
            skip = ident == "nmr-600" and local.date() == DAY and OUTAGE[0] <= hour < OUTAGE[1]
            if state != last:
                since, last = ts, state
            if not skip:
                msgs.append(h.hb(ident, seq, ts, state, interval=STEP_S, since=since, boot=boot))
                seq += 1
            ts += STEP_S
    msgs.append(h.birth("xrd-02", 0, NOW - 86400 * 3, boot="boot-xrd", hb=60.0,
                        name="X-ray diffractometer", unit="materials-lab"))  # fmt: skip
    return msgs


def _sessions(client: httpx.Client) -> None:
    for back in range(0, 40, 2):
        day = DAY - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        for ident, lo, hi, who, kind in (
            ("nmr-600", "09:00", "12:00", "Li Na / Sinopec Research", "external"),
            ("nmr-600", "13:00", "17:30", "Wang Fang / Chemistry", "internal"),
            ("sem-01", "10:00", "11:30", "Zhao Lei / Physics", "internal"),
        ):
            user, org = who.split(" / ")
            body = {"instrument": ident, "start": f"{day}T{lo}:00+08:00",
                    "end": f"{day}T{hi}:00+08:00", "user": user, "org": org, "user_type": kind}  # fmt: skip
            assert client.post("/api/v1/sessions", json=body, headers=ADMIN).status_code == 201
    adjustment = {"instrument": "nmr-600", "start": f"{DAY}T10:30:00+08:00",
                  "end": f"{DAY}T11:15:00+08:00", "state": "running",
                  "reason": "agent PC rebooted during a measurement (logbook p. 112)", "by": "Chen Jie"}  # fmt: skip
    added = client.post("/api/v1/reports/adjustments", json=adjustment, headers=ADMIN)
    assert added.status_code == 201, added.text


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    engines: Engines = open_engines(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    migrate(engines)
    feed(make_pipeline(engines, tmp_path, NOW), _history(), NOW)
    config = make_config(tmp_path, database={"url": engines.url})
    collector = start_collector(config, admin_token="adm1n", ingest=False, clock=lambda: NOW)
    try:
        with httpx.Client(base_url=collector.api_url or "", timeout=60) as client:
            _sessions(client)
        yield collector.api_url or ""
    finally:
        collector.stop()
        engines.dispose()


def _shoot(page: Page, url: str, name: str) -> str:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    return page.content()


def test_docs_screenshots(lab: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=require_binary("chromium"), args=["--no-sandbox"]
        )
        for locale in ("en-GB", "zh-CN"):
            lang = locale[:2]
            context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(lab + "/")
            page.fill("#token", "adm1n")
            page.click("form[action='/signin'] button")
            page.wait_for_url(lab + "/")
            page.screenshot(path=SHOTS / f"fleet-{lang}.png", full_page=True)
            html = _shoot(page, f"{lab}/instrument/nmr-600?day={DAY}", f"instrument-{lang}")
            drawn = set(re.findall(r'class="st st-([a-z]+)"', html))
            assert drawn == {"off", "idle", "running", "fault", "maintenance", "unknown"}
            week = DAY - timedelta(days=5)  # the week before, whole
            _shoot(page, f"{lab}/instrument/nmr-600?day={week}&span=week", f"week-{lang}")
            html = _shoot(page, f"{lab}/usage?start=2025-05-01&end=2025-06-17", f"usage-{lang}")
            assert 'data-key="2025-05"' in html and 'data-key="2025-06"' in html
            _shoot(page, f"{lab}/warnings?year=2025", f"warnings-{lang}")
            context.close()
        browser.close()
    assert errors == []
