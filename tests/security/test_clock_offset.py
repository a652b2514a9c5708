"""Wrong clocks on instrument PCs (issue 17, 8): the collector estimates each agent's clock
offset from its live messages, shows it in /api/v1/instruments and warns in /api/v1/health."""

from __future__ import annotations

from pathlib import Path

import httpx

from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.service import start_collector

from support.ledger import feed, make_config, make_pipeline
from support.messages import hb, payload, topic

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
AHEAD = 300.0  # the PC's clock runs five minutes fast
ADMIN = "admin-secret-for-clocks"


def test_an_agent_five_minutes_fast_is_shown_and_warned_about(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    engines = open_engines(config.database_url)
    migrate(engines)
    now = T0 + 3600
    pipeline = make_pipeline(engines, tmp_path, now)
    # Live heartbeats of pc-fast, dated by its clock, received 0.2-2 s after they were sent.
    for k in range(20):
        sent = T0 + 30 * k
        feed(pipeline, [hb("pc-fast", k, sent + AHEAD, "idle", interval=30)], sent + 0.2 + k % 3)
    # An outbox replay (historical) says nothing about the clock: it waited in the outbox.
    old = payload("hb", "pc-fast", 20, T0, state="idle", since=T0, interval_s=30, historical=True)
    feed(pipeline, [(topic("pc-fast", "hb"), old)], T0 + 900)
    # pc-good keeps good time.
    feed(pipeline, [hb("pc-good", 0, T0, "idle", interval=30, boot="boot-good")], T0 + 0.1)
    engines.dispose()

    collector = start_collector(config, admin_token=ADMIN, ingest=False, clock=lambda: now)
    try:
        api = httpx.Client(
            base_url=str(collector.api_url), headers={"Authorization": f"Bearer {ADMIN}"}
        )
        offsets = {i["id"]: i["clock_offset_s"] for i in api.get("/api/v1/instruments").json()}
        health = api.get("/api/v1/health").json()
    finally:
        collector.stop()
    assert 295 < offsets["pc-fast"] <= AHEAD - 0.2
    assert abs(offsets["pc-good"]) < 1
    assert [c["instrument"] for c in health["clocks_off"]] == ["pc-fast"]
