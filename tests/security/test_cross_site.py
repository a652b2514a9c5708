"""Cross-site overwrite (issue 17, 1): an agent of site ``bio``, which the documented ACL lets
write ``jishi/v1/bio/nmr-600/#``, must change nothing of site ``chem``'s ``nmr-600``: not its
hours, not its name, and not which of its own messages count as duplicates."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text

from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.service import start_collector

from support.ledger import feed, make_config, make_pipeline
from support.messages import payload, topic

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NOW = T0 + 6 * DAY
ADMIN = "admin-secret-cross-site"
REGISTRY = {
    "instruments": [{"id": "nmr-600", "site": "chem", "name": "NMR 600", "stale_after_s": 7 * DAY}]
}


def chem(kind: str, seq: int, ts: float, **fields: object) -> tuple[str, bytes]:
    body = payload(kind, "nmr-600", seq, ts, boot="boot-chem", site="chem", **fields)
    return topic("nmr-600", kind, site="chem"), body


def bio(kind: str, seq: int, ts: float, boot: str, **fields: object) -> tuple[str, bytes]:
    body = payload(kind, "nmr-600", seq, ts, boot=boot, site="bio", **fields)
    return topic("nmr-600", kind, site="bio"), body


def test_another_sites_agent_changes_nothing_of_an_instrument(tmp_path: Path) -> None:
    config = make_config(tmp_path, **REGISTRY)
    engines = open_engines(config.database_url)
    migrate(engines)
    pipeline = make_pipeline(engines, tmp_path, NOW, **REGISTRY)
    start = T0
    feed(
        pipeline,
        [chem("status", 0, start, online=True, name="NMR 600", heartbeat_interval_s=60)],
        start,
    )
    feed(pipeline, [chem("state", 1, start, state="idle", since=start)], start)
    attack = NOW - 4 * DAY
    feed(
        pipeline,
        [
            bio("status", 0, attack, "boot-bio", online=True, name="pwned"),
            bio("state", 1, attack, "boot-bio", state="maintenance", since=attack),
            # chem's own boot id and next seq: must not make chem's real seq 2 a duplicate
            bio("state", 2, attack, "boot-chem", state="maintenance", since=attack),
        ],
        attack,
    )
    late = NOW - DAY
    feed(pipeline, [chem("state", 2, late, state="running", since=late)], late)
    with engines.write.connect() as conn:
        dead = conn.execute(text("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason"))
        assert dict(dead.all()) == {"foreign_site": 3}
        name, site = conn.execute(text("SELECT name, site FROM instruments")).one()
        assert (name, site) == ("NMR 600", "chem")
    engines.dispose()

    collector = start_collector(config, admin_token=ADMIN, ingest=False, clock=lambda: NOW)
    try:
        response = httpx.get(
            f"{collector.api_url}/api/v1/usage",
            params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    finally:
        collector.stop()
    (nmr,) = response.json()["results"]
    assert nmr["maintenance_s"] == 0
    assert nmr["running_s"] == DAY  # chem's own seq 2, stored although bio sent a seq 2 first
    assert nmr["idle_s"] == 5 * DAY
