"""The web console in a real browser (Debian's Chromium driven by playwright) against a real
collector fed by real agents through a private Mosquitto: every page shows what the API gives
for the same period, the fleet refreshes itself within two heartbeats, no page without signing
in, Chinese and English, no console errors. Screenshots of every page go to
test-artifacts/console/ (kept by CI; docs/img/console/ holds copies for docs/console.md)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from support.agentproc import AgentProcess, sim_agent_toml
from support.cli import run_jishi, start_jishi, stop
from support.collectorproc import CollectorProcess
from support.console_pages import figure_rows, shown
from support.servers import Mosquitto, free_port, require_binary
from support.waiting import poll_until

# One collector, two agents and one browser for the whole module: on one xdist worker.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.xdist_group("console")]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
HEARTBEAT_S = 3.0
INSTRUMENTS = {  # id: (scenario, unit, category, name)
    "nmr-1": ([("running", 3600.0)], "Chemistry", "general", "600 MHz NMR"),
    "sem-1": ([("idle", 3600.0)], "Materials", "general", "SEM"),
    "cyc-1": ([("idle", 15.0), ("running", 15.0)], "Materials", "specialised", "Cycler"),
}
GONE = "xrd-1"  # its agent stops at once: unknown on the fleet page


def _agent_toml(broker: str, instruments: dict[str, Any]) -> str:
    text = sim_agent_toml(
        broker,
        instruments={k: v[0] for k, v in instruments.items()},
        heartbeat_s=HEARTBEAT_S,
        extra_mqtt="keepalive_s = 5",
    )
    for ident, (_, unit, category, name) in instruments.items():
        text = text.replace(
            f'id = "{ident}"\n',
            f'id = "{ident}"\nname = "{name}"\nunit = "{unit}"\ncategory = "{category}"\n',
        )
    return text


@dataclass
class Console:
    collector: CollectorProcess
    agent: AgentProcess
    read_token: str
    started: datetime
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.collector.api_port}"

    def api(self, path: str, **params: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        status, body = self.collector.get(f"/api/v1{path}" + (f"?{query}" if query else ""))
        assert status == 200, (path, body)
        return body


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    work = tmp_path_factory.mktemp("console")
    broker = Mosquitto(workdir=work / "mosquitto").start()
    collector = CollectorProcess(work / "collector", broker.url).start()
    main = work / "agent.toml"
    main.write_text(_agent_toml(broker.url, INSTRUMENTS))
    other = work / "agent-xrd.toml"
    other.write_text(
        _agent_toml(broker.url, {GONE: ([("idle", 3600.0)], "Physics", "general", "XRD")})
    )
    agent = AgentProcess(main, work / "agent").start()
    gone = AgentProcess(other, work / "agent-xrd").start()
    try:
        collector.wait_for(
            "/api/v1/instruments",
            lambda rows: len(rows) == 4 and all(r["online"] for r in rows),
            30,
        )
        gone.stop()  # a clean goodbye: unknown from now on
        collector.wait_for(f"/api/v1/instruments/{GONE}", lambda row: row["state"] == "unknown", 20)
        created = run_jishi(
            "collector", "token", "create", "--name", "office", "--role", "read",
            "-c", str(collector.workdir / "collector.toml"), check=True,
        )  # fmt: skip
        token = created.stdout.strip().splitlines()[-1].strip()
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield Console(collector, agent, token, datetime.now(UTC))
    finally:
        gone.stop()
        agent.stop()
        collector.stop()
        broker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_binary("chromium")
    with sync_playwright() as p:
        # --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def _watch(page: Page, errors: list[str]) -> Page:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def sign_in(browser: Browser, console: Console, locale: str = "en-GB") -> BrowserContext:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = _watch(context.new_page(), console.errors)
    page.goto(console.url + "/")
    assert page.url == console.url + "/signin?next=%2F"
    page.fill("#token", console.read_token)
    page.click("form[action='/signin'] button")
    page.wait_for_url(console.url + "/")
    page.close()
    return context


@pytest.fixture(scope="module")
def english(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    context = sign_in(browser, console)
    yield context
    context.close()


def _page(context: BrowserContext, console: Console, path: str) -> Page:
    page = _watch(context.new_page(), console.errors)
    response = page.goto(console.url + path)
    assert response is not None and response.status == 200, path
    return page


def site_days() -> tuple[str, str]:
    """Today and tomorrow in the collector's time zone (the default, Asia/Shanghai)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return today.isoformat(), (today + timedelta(days=1)).isoformat()


def _steady(api: Callable[[], Any], look: Callable[[], Any]) -> tuple[Any, Any]:
    """The API's answer and the page's, taken while the API's answer did not change."""
    for _ in range(5):
        before, seen, after = api(), look(), api()
        if before == after:
            return before, seen
    raise AssertionError("the API's answer kept changing")


def _bracketed(api: Callable[[], Any], look: Callable[[], Any]) -> tuple[Any, Any, Any]:
    """The API's answer before and after the page's: figures of today and of this year move
    with the clock, so the page's must lie between them (see :func:`_between`)."""
    return api(), look(), api()


def _between(seen: str, before: str, after: str) -> bool:
    """A figure as shown lies between the API's two answers, give or take the last digit."""
    if seen in (before, after):
        return True
    if "—" in (seen, before, after):
        return False
    step = 0.1 if seen.endswith("%") else 0.01
    low, high = sorted(float(v.rstrip("%")) for v in (before, after))
    return low - step - 1e-9 <= float(seen.rstrip("%")) <= high + step + 1e-9


def _figures_between(
    seen: dict[str, dict[str, str]], before: dict[str, Any], after: dict[str, Any]
) -> None:
    assert set(seen) == set(before) == set(after)
    for key, cells in seen.items():
        for name, text in cells.items():
            assert _between(text, before[key][name], after[key][name]), (key, name, text)


def test_no_page_without_signing_in(browser: Browser, console: Console) -> None:
    context = browser.new_context()
    page = _watch(context.new_page(), console.errors)
    for path in ("/", "/usage", "/warnings", f"/instrument/{GONE}"):
        page.goto(console.url + path)
        assert page.url.startswith(console.url + "/signin?next="), path
    page.screenshot(path=SHOTS / "signin.png")
    page.fill("#token", "not-a-token")
    page.click("form[action='/signin'] button")
    assert page.locator(".problem").inner_text() == "Unknown or revoked token."
    context.close()
    # The refused sign-in answers 401, which the browser reports; nothing else may be there.
    assert [e for e in console.errors if "401" not in e] == []
    console.errors.clear()


def test_fleet_shows_the_api_states_and_figures(english: BrowserContext, console: Console) -> None:
    page = _page(english, console, "/")
    today, tomorrow = site_days()

    def api() -> Any:
        rows = console.api("/instruments")
        usage = console.api("/usage", start=today, end=tomorrow)
        return {r["id"]: r["state"] for r in rows}, {
            u["instrument"]: shown(u) for u in usage["results"]
        }

    def look() -> Any:
        page.reload()
        html = page.content()
        states = {
            row.get_attribute("data-instrument"): row.get_attribute("data-state")
            for row in page.locator("#fleet-rows tr").all()
        }
        return states, figure_rows(html, "fleet")

    before, (seen_states, seen_figures), after = _bracketed(api, look)
    states = before[0]
    if before[0] == after[0]:  # else cyc-1 changed state meanwhile: the next test's subject
        assert seen_states == states
    assert set(seen_states) == set(states)
    assert states[GONE] == "unknown" and states["nmr-1"] == "running"
    assert page.locator(f'tr[data-instrument="{GONE}"] .badge.st-unknown').is_visible()
    _figures_between(seen_figures, before[1], after[1])
    page.screenshot(path=SHOTS / "fleet-en.png", full_page=True)
    page.select_option("select[name=unit]", "Materials")
    page.wait_for_url("**/?unit=Materials&category=")
    ids = [r.get_attribute("data-instrument") for r in page.locator("#fleet-rows tr").all()]
    assert ids == ["cyc-1", "sem-1"]
    assert console.errors == []


def test_fleet_refresh_picks_up_a_state_change(english: BrowserContext, console: Console) -> None:
    page = _page(english, console, "/")
    row = page.locator('tr[data-instrument="cyc-1"]')
    before = row.get_attribute("data-state")
    page.evaluate("window.notReloaded = true")
    page.wait_for_function(
        "s => document.querySelector('tr[data-instrument=\"cyc-1\"]').dataset.state !== s",
        arg=before,
        timeout=40_000,
        polling=100,
    )
    seen = time.time()
    after = row.get_attribute("data-state")
    assert {before, after} == {"idle", "running"}
    assert page.evaluate("window.notReloaded") is True  # the rows changed, not the page

    def latest() -> float:
        """When the agent saw the change (its log; the line may land a moment later)."""
        times = [
            datetime.fromisoformat(since).timestamp()
            for inst, state, since in console.agent.transitions()
            if inst == "cyc-1" and state == after
        ]
        return max(times, default=0.0)

    poll_until(lambda: seen - latest() < 20, 5, 0.2)
    delay = seen - latest()
    assert 0 <= delay <= 2 * HEARTBEAT_S, delay
    assert console.errors == []


def test_instrument_page_shows_the_api_timeline(english: BrowserContext, console: Console) -> None:
    page = _page(english, console, "/instrument/nmr-1")
    today = page.input_value("input[name=day]")

    def api() -> Any:
        body = console.api("/instruments/nmr-1/timeline", start=today, end=site_days()[1])
        return [i["state"] for i in body["intervals"]]

    def look() -> Any:
        page.reload()
        return [
            r.get_attribute("data-state")
            for r in page.locator("table.stretches > tbody > tr").all()
        ]

    states, seen = _steady(api, look)
    assert seen == states and states[0] == "unknown" and states[-1] == "running"
    assert page.locator("svg.timeline rect.st").count() == len(states)
    assert page.locator("svg.timeline rect.st-unknown").count() >= 1
    last = len(states) - 1
    page.click(f'svg.timeline rect.st[data-i="{last}"]')
    evidence = page.locator(f"#iv-{last} details")
    assert evidence.get_attribute("open") is not None
    assert "heartbeats and state messages" in evidence.inner_text()
    page.screenshot(path=SHOTS / "instrument-en.png", full_page=True)
    first = page.locator("#iv-0 details")
    first.locator("summary").click()
    assert "unknown" in first.inner_text()
    assert console.errors == []


def test_instrument_daily_hours_equal_the_api(english: BrowserContext, console: Console) -> None:
    page = _page(english, console, "/instrument/nmr-1")
    keys = [
        r.get_attribute("data-day") for r in page.locator("table.daily-figures tr[data-day]").all()
    ]
    assert len(keys) == 30

    def api() -> Any:
        body = console.api(
            "/usage", instrument="nmr-1", group_by="day", start=keys[0], end=site_days()[1]
        )
        return {d["day"]: shown(d) for d in body["results"]}

    def look() -> Any:
        page.reload()
        return figure_rows(page.content(), "daily-figures")

    before, seen, after = _bracketed(api, look)
    _figures_between(seen, before, after)
    past = [day for day in seen if day != max(seen)]  # closed days: exactly the API's
    assert all(seen[d] == {k: before[d][k] for k in seen[d]} for d in past)
    assert page.locator("svg.bars g.bar").count() == 30
    assert console.errors == []


def test_usage_page_equals_the_api(english: BrowserContext, console: Console) -> None:
    start = console.started.strftime("%Y-%m-%dT%H:%M:%SZ")
    poll_until(lambda: (datetime.now(UTC) - console.started).total_seconds() > 8, 20, 0.5)
    end = datetime.fromtimestamp(time.time() - 2, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = _page(english, console, f"/usage?start={start}&end={end}")
    html = page.content()
    for group, table in (("unit", "by-unit"), ("month", "by-month")):
        api = console.api("/usage", start=start, end=end, group_by=group)["results"]
        rows = figure_rows(html, table)
        assert set(rows) - {"total"} == {item[group] or "" for item in api}
        for item in api:
            cells = rows[item[group] or ""]
            assert cells == {k: shown(item)[k] for k in cells}, item
    page.screenshot(path=SHOTS / "usage-en.png", full_page=True)
    for link in ("/usage/tables?format=xlsx", "/usage/download?format=xlsx"):
        with page.expect_download() as got:
            page.click(f"a[href^='{link}']")
        assert got.value.path().read_bytes()[:2] == b"PK", link
    assert console.errors == []


def test_warnings_page_equals_the_reports(english: BrowserContext, console: Console) -> None:
    page = _page(english, console, "/warnings")
    year = page.input_value("select[name=year]")

    def api() -> Any:
        low = console.api("/reports/low-utilization", year=year)
        full = console.api("/reports/saturation", year=year)
        return (
            {e["instrument"]: shown(e) for e in low["low_utilization"]},
            {e["instrument"] for e in full["instruments"]},
        )

    def look() -> Any:
        page.reload()
        html = page.content()
        return figure_rows(html, "low-use"), set(figure_rows(html, "saturation"))

    before, (seen_low, seen_saturation), after = _bracketed(api, look)
    assert set(seen_low) == {*INSTRUMENTS, GONE}  # a new fleet: all under-used
    _figures_between(seen_low, before[0], after[0])
    assert seen_saturation == before[1] == after[1]
    page.screenshot(path=SHOTS / "warnings-en.png", full_page=True)
    assert console.errors == []


def test_chinese_pages(browser: Browser, console: Console) -> None:
    context = sign_in(browser, console, locale="zh-CN")
    expected = {
        "/": ("仪器实时总览", "fleet-zh"),
        "/instrument/cyc-1?span=week": ("状态时间线", "instrument-zh"),
        "/usage": ("按管理单位", "usage-zh"),
        "/warnings": ("使用率偏低", "warnings-zh"),
    }
    for path, (heading, shot) in expected.items():
        page = _page(context, console, path)
        assert heading in page.content(), path
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)
        page.close()
    page = _page(context, console, "/")
    page.click("header a.lang")
    page.wait_for_selector("text=Fleet now")
    context.close()
    assert console.errors == []


def test_demo_console_lists_its_instruments(browser: Browser, tmp_path: Path) -> None:
    """The issue's check: ``jishi demo --port P --token t0k --instruments 3``, sign in with t0k,
    and ``/`` lists the 3 instruments with their states."""
    port = free_port()
    demo = start_jishi(
        "demo", "--port", str(port), "--token", "t0k", "--instruments", "3",
        "--dir", str(tmp_path / "demo"), "--no-table", output=subprocess.PIPE,
    )  # fmt: skip
    context = browser.new_context()
    try:
        page = context.new_page()
        assert poll_until(lambda: _answers(page, port), 30, 0.5)
        page.fill("#token", "t0k")
        page.click("form[action='/signin'] button")
        page.wait_for_url(f"http://127.0.0.1:{port}/")

        def three() -> bool:
            page.reload()
            return page.locator("#fleet-rows tr[data-state]").count() == 3

        assert poll_until(three, 20, 0.5)
        states = page.locator("#fleet-rows .badge").all_inner_texts()
        assert len(states) == 3 and all(states)
    finally:
        context.close()
        stop(demo)
    out = demo.stdout.read().decode() if demo.stdout else ""
    assert f"console      http://127.0.0.1:{port}/" in out


def _answers(page: Page, port: int) -> bool:
    try:
        page.goto(f"http://127.0.0.1:{port}/")
    except PlaywrightError:  # not listening yet
        return False
    return "/signin" in page.url
