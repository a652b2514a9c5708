"""The open registry is rate- and count-limited (issue 17, 6): 10,000 invented instrument ids
made 10,000 instruments. Without ``registry_closed`` at most
``ingest.max_new_instruments_per_hour`` unregistered instruments are created per hour and
``ingest.max_unregistered_instruments`` in all; messages about the rest are dead letters
(``registry_limit``) and ``/api/v1/health`` warns."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text

from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Pipeline
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.writer import LedgerWriter
from jishi.collector.service import new_instrument_limit, start_collector

from support import messages as h
from support.ledger import feed, make_config

HOUR = 3600.0
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def pipeline_of(
    config: CollectorConfig, engines: Engines, metrics: IngestMetrics, now: float
) -> Pipeline:
    return Pipeline(
        engines=engines,
        writer=LedgerWriter(
            config.registry(),
            config.site.timezone,
            256,
            new_instruments=new_instrument_limit(config),
        ),
        limits=Limits(65536, 600, 400 * 86400, None),
        topic_root=h.ROOT,
        metrics=metrics,
        acker=lambda _items: None,
        clock=lambda: now,
    )


def births(ids: range, at: float, prefix: str = "inv") -> list[tuple[str, bytes]]:
    return [
        h.birth(f"{prefix}-{i:05d}", 0, at, hb=60.0, boot=f"boot-{prefix}-{i:05d}") for i in ids
    ]


def counts(engines: Engines) -> tuple[int, int]:
    with engines.read.connect() as conn:
        instruments = conn.execute(text("SELECT count(*) FROM instruments")).scalar_one()
        limited = conn.execute(
            text("SELECT count(*) FROM dead_letters WHERE reason = 'registry_limit'")
        ).scalar_one()
    return int(instruments), int(limited)


def test_ten_thousand_invented_ids_do_not_make_ten_thousand_instruments(
    tmp_path: Path, ledger_url: str
) -> None:
    config = make_config(
        tmp_path,
        database={"url": ledger_url},
        ingest={"max_new_instruments_per_hour": 100, "max_unregistered_instruments": 250},
        instruments=[{"id": "nmr-600", "site": "lab"}],
    )
    collector = start_collector(config, ingest=False, clock=lambda: NOW)
    try:
        pipeline = pipeline_of(config, collector.engines, collector.metrics, NOW)
        for start in range(0, 10_000, 2000):
            feed(pipeline, births(range(start, start + 2000), NOW), NOW)
        # 1 registered (made at start) + 100 of this hour
        assert counts(collector.engines) == (101, 9900)
        # a registered instrument is always heard, however many strangers came first
        feed(pipeline, [h.state("nmr-600", 1, NOW, "running", boot="boot-nmr")], NOW)
        assert collector.metrics.stored == 101
        body = httpx.get(f"{collector.api_url}/api/v1/health").json()
        assert body["status"] == "degraded"
        assert any("registry_limit" in p for p in body["problems"])

        # Hours later: 100 more per hour, until 250 unregistered in all.
        for hours in (1, 2, 3):
            later = NOW + hours * HOUR
            feed(
                pipeline_of(config, collector.engines, collector.metrics, later),
                births(range(20_000 + hours * 1000, 20_000 + hours * 1000 + 500), later),
                later,
            )
        instruments, _ = counts(collector.engines)
        assert instruments == 1 + 250
    finally:
        collector.stop()


def test_a_fleet_within_the_defaults_is_untouched(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    collector = start_collector(config, ingest=False, api=False, clock=lambda: NOW)
    try:
        pipeline = pipeline_of(config, collector.engines, collector.metrics, NOW)
        feed(pipeline, births(range(80), NOW), NOW)
        assert counts(collector.engines) == (80, 0)
    finally:
        collector.stop()
