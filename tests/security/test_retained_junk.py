"""Retained junk (issue 17, 6): the broker hands a retained message to every new subscription,
so a retained malformed message was dead-lettered again at every start of the collector. Dead
letters of retained messages are kept once per (topic, payload): a restart adds none."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.service import start_collector

from support import messages as h
from support.ledger import make_config
from support.servers import Mosquitto
from support.waiting import wait_until

pytestmark = pytest.mark.integration
JUNK = ("jishi/v1/lab/junk/state", b"{not json")
OTHER = ("jishi/v1/lab/other/state", b"{not json")


def dead_letters(url: str) -> list[tuple[str, str]]:
    from jishi.collector.ledger.db import open_engines

    engines = open_engines(url)
    try:
        with engines.read.connect() as conn:
            rows = conn.execute(text("SELECT topic, reason FROM dead_letters")).all()
    finally:
        engines.dispose()
    return [(r[0], r[1]) for r in rows]


def received(metrics: IngestMetrics, count: int) -> None:
    wait_until(lambda: metrics.received >= count, 30, f"{count} messages received")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_retained_malformed_message_is_one_dead_letter_across_restarts(
    mosquitto: Mosquitto, tmp_path: Path, workers: int
) -> None:
    publisher = h.Publisher(mosquitto.port)
    publisher.publish_all([JUNK], retain=True)
    config = make_config(tmp_path, mqtt={"broker": mosquitto.url}, ingest={"workers": workers})
    for start in range(3):
        collector = start_collector(config)
        try:
            # Each start receives the retained message once more (and the queued one first).
            received(collector.metrics, 1)
            assert collector.wait_idle(30)
            if start == 0:
                # Not retained, the same bytes twice: each one is an event, both are kept.
                publisher.publish_all([OTHER, OTHER])
                received(collector.metrics, 3)
                assert collector.wait_idle(30)
        finally:
            collector.stop()
        assert dead_letters(config.database_url).count((JUNK[0], "malformed_json")) == 1, start
    publisher.close()
    assert dead_letters(config.database_url).count((OTHER[0], "malformed_json")) == 2
