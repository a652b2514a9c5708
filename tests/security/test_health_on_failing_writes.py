"""Health while the ledger cannot be written (issue 17, 5): ``/api/v1/health`` said ``ok`` while
every write failed. It must say ``degraded``, with the reason, when ingest's writes fail (here a
table renamed under a running collector: a real SQLite or PostgreSQL error in its worker
process; an outage on both, retried until the table is back, nothing dead-lettered) and when
the ledger's file system is short of space (``database.min_free_mb``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from jishi.collector.service import Collector, start_collector

from support import messages as h
from support.ledger import make_config
from support.servers import Mosquitto
from support.waiting import wait_until


def health(collector: Collector) -> dict[str, Any]:
    response = httpx.get(f"{collector.api_url}/api/v1/health")
    assert response.status_code == 200  # readable ledger: degraded, not down
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.integration
def test_failing_ledger_writes_make_health_degraded(
    mosquitto: Mosquitto, tmp_path: Path, ledger_url: str
) -> None:
    config = make_config(tmp_path, mqtt={"broker": mosquitto.url}, database={"url": ledger_url})
    collector = start_collector(config)
    publisher = h.Publisher(mosquitto.port)
    try:
        assert collector.source is not None
        wait_until(collector.source.subscribed.is_set, 10, "the collector to subscribe")
        now = time.time()
        publisher.publish_all([h.birth("nmr", 0, now, hb=5.0), h.state("nmr", 1, now, "idle")])
        wait_until(lambda: collector.metrics.stored == 2, 10, "the first messages stored")
        before = health(collector)
        assert before["status"] == "ok", before
        assert before["problems"] == []

        with collector.engines.write.begin() as conn:
            # every batch dedupes through it; renamed, not dropped, to bring it back below
            conn.execute(text("ALTER TABLE boots RENAME TO boots_away"))
        publisher.publish_all([h.state("nmr", 2, now + 1, "running")])
        metrics = collector.metrics
        wait_until(lambda: metrics.store_errors or metrics.refused_writes, 10, "a failed write")
        after = health(collector)
        assert after["status"] == "degraded"
        assert after["ledger"]["writes_ok"] is False
        # SQLite's OperationalError and PostgreSQL's UndefinedTable alike: the database is at
        # fault, not the message; retried with back-off, the message kept unacked (it was
        # dead-lettered as store_error, and so acknowledged and lost, on PostgreSQL before).
        problems = after["problems"]
        assert any("ledger writes are failing" in p for p in problems), problems
        assert metrics.refused_writes == 0
        assert metrics.stored == 2

        with collector.engines.write.begin() as conn:
            conn.execute(text("ALTER TABLE boots_away RENAME TO boots"))
        wait_until(lambda: metrics.stored == 3, 20, "the message stored once the table is back")
        again = health(collector)
        assert again["status"] == "ok", again
        with collector.engines.read.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
    finally:
        publisher.close()
        collector.stop()


def test_low_free_space_makes_health_degraded(tmp_path: Path) -> None:
    # More free space than any test machine has: the real statvfs of the ledger's file system.
    config = make_config(tmp_path, database={"min_free_mb": 1024**3})
    collector = start_collector(config, ingest=False)
    try:
        body = health(collector)
    finally:
        collector.stop()
    assert body["status"] == "degraded"
    assert body["ledger"]["free_mb"] > 0
    assert any("free space" in p and str(config.data_dir) in p for p in body["problems"])


def test_enough_free_space_is_no_problem(tmp_path: Path) -> None:
    config = make_config(tmp_path, database={"min_free_mb": 1})
    collector = start_collector(config, ingest=False)
    try:
        body = health(collector)
    finally:
        collector.stop()
    assert not any("free space" in p for p in body["problems"])
