"""The periodic pull of calendar feeds (``[[bookings]]`` in collector.toml, issue 13).

One thread for all feeds: each is pulled when its interval has passed, one after another (a
calendar is small; a slow server only delays the others). A failed pull is logged and tried
again at the next interval; the bookings already stored stay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from jishi.collector.config import BookingFeed
from jishi.collector.ingest.booking_import import fetch_calendar, import_calendar
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.session_input import SessionImportError

log = logging.getLogger(__name__)


def pull_feed(engines: Engines, feed: BookingFeed, timezone: str, now: float) -> int:
    """Fetch one feed and store its window; returns how many bookings it holds."""
    raw = fetch_calendar(feed.url)
    return import_calendar(
        engines,
        raw,
        feed.instrument,
        feed.name,
        timezone,
        now,
        days_back=feed.days_back,
        days_ahead=feed.days_ahead,
    )


@dataclass
class FeedPuller:
    """Pulls every feed when due, in a daemon thread, until :meth:`stop`."""

    engines: Engines
    feeds: Sequence[BookingFeed]
    timezone: str
    clock: Callable[[], float]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    due: dict[str, float] = field(default_factory=dict)

    def pull_due(self) -> None:
        """Pull each feed whose time has come (all of them the first time)."""
        for feed in self.feeds:
            now = self.clock()
            if self.due.get(feed.name, 0.0) > now:
                continue
            self.due[feed.name] = now + feed.interval_s
            try:
                count = pull_feed(self.engines, feed, self.timezone, now)
            except (SessionImportError, SQLAlchemyError) as exc:
                log.warning("booking feed %s not pulled: %s", feed.name, exc)
                continue
            log.info("booking feed %s: %d bookings in its window", feed.name, count)

    def start(self) -> None:
        def loop() -> None:
            while True:
                self.pull_due()
                if self._stop.wait(30.0):
                    return

        self._thread = threading.Thread(target=loop, name="jishi-booking-feeds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
