"""Calendar feeds pulled into the ledger, and the import commands (issue 13)."""

from __future__ import annotations

import time
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jishi.cli import main
from jishi.collector.config import BookingFeed, CollectorConfig, InstrumentEntry
from jishi.collector.ingest.booking_feeds import FeedPuller
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.registry import sync_registry

from support.paths import EXAMPLES, REPO

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
    FeedPuller(engines, feeds, TZ, clock=lambda: MARCH_10).pull_due()  # logged, not raised
    assert {source for source, _ in _stored(engines)} == {"ics:good"}


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
