"""Calendar feeds pulled into the ledger, and the import commands (issue 13)."""

from __future__ import annotations

import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from jishi.cli import main
from jishi.collector.checks import check_feed
from jishi.collector.config import BookingFeed, CollectorConfig, InstrumentEntry
from jishi.collector.ingest.booking_feeds import FeedPuller
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.service import start_collector

from support.cli import run_jishi
from support.ledger import make_config
from support.paths import EXAMPLES, REPO
from support.servers import Mosquitto
from support.waiting import wait_until

TZ = "Asia/Shanghai"
FEED = Path(__file__).parent / "ics" / "nmr600.ics"
MARCH_10 = datetime(2025, 3, 10, 12, tzinfo=ZoneInfo(TZ)).timestamp()


def _stored(engines: Engines) -> list[tuple[str, str | None]]:
    b = tables.bookings
    with engines.read.connect() as conn:
        rows = conn.execute(select(b.c.source, b.c.title).order_by(b.c.start_ts)).all()
    return [(r[0], r[1]) for r in rows]


def test_a_pull_replaces_the_feed_window(engines: Engines, tmp_path: Path) -> None:
    sync_registry(engines, {"nmr-600": InstrumentEntry(id="nmr-600")}, time.time())
    calendar = tmp_path / "nmr600.ics"
    calendar.write_bytes(FEED.read_bytes())
    feed = BookingFeed(name="nmr600", instrument="nmr-600", url=str(calendar), days_ahead=30)
    puller = FeedPuller(engines, [feed], TZ, clock=lambda: MARCH_10)
    puller.pull_due()
    first = _stored(engines)
    assert len(first) == 6 and {s for s, _ in first} == {"ics:nmr600"}
    # The visiting group's event is deleted in the calendar: the next pull forgets it.
    text = FEED.read_bytes().decode("utf-8")
    start = text.index("BEGIN:VEVENT\r\nUID:visitor-ny")
    calendar.write_bytes((text[:start] + text[text.index("END:VEVENT\r\n", start) + 12 :]).encode())
    puller.due.clear()
    puller.pull_due()
    assert [t for _, t in _stored(engines)] == [t for _, t in first if "New York" not in (t or "")]
    # Not due yet: a changed calendar is not read before the interval.
    calendar.write_bytes(b"broken")
    puller.pull_due()
    assert len(_stored(engines)) == 5


def test_an_unreadable_feed_keeps_what_is_stored(engines: Engines, tmp_path: Path) -> None:
    sync_registry(engines, {"nmr-600": InstrumentEntry(id="nmr-600")}, time.time())
    good = BookingFeed(name="good", instrument="nmr-600", url=str(FEED))
    feeds = [
        BookingFeed(name="gone", instrument="nmr-600", url=str(tmp_path / "missing.ics")),
        BookingFeed(name="refused", instrument="nmr-600", url="http://127.0.0.1:9/x.ics"),
        BookingFeed(name="bad-url", instrument="nmr-600", url="http://[::1/x.ics"),
        good,
    ]
    puller = FeedPuller(engines, feeds, TZ, clock=lambda: MARCH_10)
    puller.pull_due()  # logged, not raised
    assert {source for source, _ in _stored(engines)} == {"ics:good"}
    # Each feed's last pull is kept for /api/v1/health, with what went wrong in words.
    status = {s["name"]: s for s in puller.status()}
    assert [status[n]["ok"] for n in ("gone", "refused", "bad-url", "good")] == [
        False,
        False,
        False,
        True,
    ]
    assert status["good"]["bookings"] == 6 and status["good"]["error"] is None
    assert status["good"]["last_ok_at"] == "2025-03-10T04:00:00.000Z"
    assert status["gone"]["last_ok_at"] is None and status["gone"]["bookings"] is None
    assert f"cannot read calendar {tmp_path / 'missing.ics'}" in status["gone"]["error"]
    assert "bad row" not in status["refused"]["error"]


def test_the_check_reads_each_feed_without_storing_it(tmp_path: Path) -> None:
    good = BookingFeed(name="good", instrument="nmr-600", url=str(FEED))
    ok, said = check_feed(good, TZ, MARCH_10)
    assert ok and said.startswith("6 bookings in its window (30 days back, 90 ahead)")
    broken = tmp_path / "broken.ics"
    broken.write_bytes(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n")
    ok, said = check_feed(BookingFeed(name="b", instrument="x", url=str(broken)), TZ, MARCH_10)
    assert not ok and said.startswith("not an iCalendar file")
    ok, said = check_feed(
        BookingFeed(name="r", instrument="x", url="http://127.0.0.1:9/x.ics"), TZ, MARCH_10
    )
    assert not ok and "cannot read calendar http://127.0.0.1:9/x.ics" in said
    assert said.endswith("check its url and that the calendar server answers")


def test_the_import_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    example = str(EXAMPLES / "collector.toml")
    directory = tmp_path / "用户名录.csv"
    directory.write_bytes("账号,用户类型,单位\nzhangsan,校外,某公司\n".encode("gbk"))
    assert main(["collector", "import-directory", "-c", example, "--db", db, str(directory)]) == 0
    assert "imported 1 directory" in capsys.readouterr().out
    base = ["collector", "import-bookings", "-c", example, "--db", db]
    assert main([*base, str(FEED)]) == 1
    assert "needs --instrument and --feed" in capsys.readouterr().err
    bookings = tmp_path / "bookings.csv"
    bookings.write_text("instrument,start,end\nnope,2025-03-01 09:00,2025-03-01 08:00\n", "utf-8")
    assert main([*base, str(bookings)]) == 1
    err = capsys.readouterr().err
    assert "line 2: end" in err


def test_the_documented_feed_configuration_loads() -> None:
    text = (REPO / "docs" / "sessions.md").read_text("utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = CollectorConfig.model_validate(tomllib.loads(block))
    assert [(f.name, f.instrument, f.interval_s) for f in config.bookings] == [
        ("nmr600", "nmr-600", 900.0)
    ]
    with pytest.raises(ValueError, match="names must be unique"):
        CollectorConfig.model_validate(tomllib.loads(block + block))


def test_a_feed_over_http(engines: Engines) -> None:
    import functools
    import http.server
    import threading

    sync_registry(engines, {"nmr-600": InstrumentEntry(id="nmr-600")}, time.time())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FEED.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{FEED.name}"
        feed = BookingFeed(name="web", instrument="nmr-600", url=url, days_ahead=30)
        FeedPuller(engines, [feed], TZ, clock=lambda: MARCH_10).pull_due()
    finally:
        server.shutdown()
        server.server_close()
    assert len(_stored(engines)) == 6


@pytest.mark.integration
def test_health_shows_each_feed_and_a_failing_one_degrades_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A running collector pulls its feeds at start; ``/api/v1/health`` lists each one's last
    pull and says in words which feed cannot be read (ops learn of it without reading logs)."""
    missing = tmp_path / "gone.ics"
    bookings = [
        {"name": "nmr600", "instrument": "nmr-600", "url": str(FEED)},
        {"name": "xrd", "instrument": "nmr-600", "url": str(missing)},
    ]
    config = make_config(
        tmp_path,
        mqtt={"broker": mosquitto.url},
        instruments=[{"id": "nmr-600"}],
        bookings=bookings,
    )
    collector = start_collector(config)
    try:
        assert collector.source is not None
        wait_until(collector.source.subscribed.is_set, 10, "the collector to subscribe")
        seen: list[dict[str, Any]] = []

        def pulled() -> bool:
            seen.append(httpx.get(f"{collector.api_url}/api/v1/health").json())
            return all(f["last_attempt_at"] for f in seen[-1]["booking_feeds"])

        wait_until(pulled, 20, "both feeds pulled")
        body = seen[-1]
    finally:
        collector.stop()
    feeds = {f["name"]: f for f in body["booking_feeds"]}
    assert feeds["nmr600"]["ok"] is True and feeds["nmr600"]["error"] is None
    assert feeds["xrd"]["ok"] is False and feeds["xrd"]["bookings"] is None
    assert body["status"] == "degraded"
    assert [p for p in body["problems"] if "booking feed" in p] == [
        f"booking feed 'xrd' not pulled: {feeds['xrd']['error']}"
    ]
    assert str(missing) in feeds["xrd"]["error"]


@pytest.mark.integration
def test_collector_check_reads_the_feeds(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        'data_dir = "data"\n[mqtt]\nbroker = "mqtt://127.0.0.1:1"\n'
        f'[[bookings]]\nname = "nmr600"\ninstrument = "nmr-600"\nurl = "{FEED}"\n'
        f'[[bookings]]\nname = "xrd"\ninstrument = "xrd-1"\nurl = "{tmp_path / "gone.ics"}"\n',
        "utf-8",
    )
    failed = run_jishi("collector", "check", "-c", str(config), "--no-broker")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    assert any(line.startswith(f"booking feed nmr600 ({FEED}): ") for line in lines)
    assert any(
        line.startswith(f"booking feed xrd ({tmp_path / 'gone.ics'}): cannot read calendar")
        for line in lines
    )
    skipped = run_jishi("collector", "check", "-c", str(config), "--no-broker", "--no-feeds")
    assert skipped.returncode == 0 and "booking feed" not in skipped.stdout
