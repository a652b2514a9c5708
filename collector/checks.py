"""What ``jishi collector check`` tries for real besides the ledger: the broker (the collector's
credentials and TLS, as ``jishi agent check`` does for an agent) and InfluxDB when ``[influx]``
is configured, and each ``[[bookings]]`` calendar feed. Each check answers ``(ok, what a
technician reads)`` and never raises."""

from __future__ import annotations

import dataclasses
import time

from jishi.collector.config import BookingFeed, CollectorMqtt
from jishi.collector.ingest.booking_import import DAY, fetch_calendar
from jishi.collector.ingest.bookings_ics import parse_ics
from jishi.collector.ingest.mqtt_source import source_settings
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.sink.config import SinkConfig
from jishi.collector.sink.writers import SinkWriteError, writer_for
from jishi.errors import ConfigError
from jishi.i18n import _
from jishi.mqtt_client import probe


def check_broker(mqtt: CollectorMqtt, timeout_s: float = 10.0) -> tuple[bool, str]:
    """Connect once as the collector would, with a clean session under a throwaway id: the
    collector's own persistent session (its queued messages) must not be touched."""
    try:
        password = mqtt.password()
    except ConfigError as exc:
        return False, str(exc)
    settings = dataclasses.replace(
        source_settings(mqtt, password, f"jishi-check-{int(time.time())}"),
        clean_session=True,
        session_expiry_s=None,
    )
    return probe(settings, timeout_s)


def check_influx(config: SinkConfig) -> tuple[bool, str]:
    """Write an empty batch: InfluxDB checks the credentials and that the database (v1) or
    bucket (v2) exists, and stores nothing."""
    target = (
        _("bucket {name!r}").format(name=config.bucket)
        if config.api == "v2"
        else _("database {name!r}").format(name=config.database)
    )
    try:
        writer = writer_for(config)
    except ConfigError as exc:
        return False, str(exc)
    try:
        writer.write([])
    except SinkWriteError as exc:
        return False, _(
            "cannot write to {target} ({error}); check influx.url, that InfluxDB runs, the "
            "credentials and that the database or bucket exists"
        ).format(target=target, error=exc)
    finally:
        writer.close()
    return True, _("writes accepted ({api} API, {target})").format(api=config.api, target=target)


def check_feed(feed: BookingFeed, timezone: str, now: float) -> tuple[bool, str]:
    """Fetch and read one calendar feed without storing it."""
    window = (now - feed.days_back * DAY, now + feed.days_ahead * DAY)
    try:
        raw = fetch_calendar(feed.url)
        bookings = parse_ics(raw, timezone=timezone, start=window[0], end=window[1])
    except SessionImportError as exc:
        return False, _("{problem}; check its url and that the calendar server answers").format(
            problem=exc.summary
        )
    return True, _("{count} bookings in its window ({back:g} days back, {ahead:g} ahead)").format(
        count=len(bookings), back=feed.days_back, ahead=feed.days_ahead
    )
