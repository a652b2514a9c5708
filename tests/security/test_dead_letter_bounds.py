"""Dead letters bounded (issue 17, 6): 5,000 junk messages once took 24 MB of ledger and were
never pruned. The collector's housekeeping deletes dead letters older than
``ingest.dead_letter_max_age_days`` and, oldest first, those beyond
``ingest.dead_letter_max_total_mb``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.service import housekeeping

from support.ledger import feed, make_config, make_pipeline

DAY = 86_400.0
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
JUNK = b"{" + b"x" * 3000  # malformed JSON, 3 kB kept of each


def test_five_thousand_junk_messages_stay_within_the_bounds(
    tmp_path: Path, ledger_url: str
) -> None:
    config = make_config(
        tmp_path,
        database={"url": ledger_url},
        ingest={"dead_letter_max_age_days": 7, "dead_letter_max_total_mb": 1},
    )
    engines = open_engines(config.database_url)
    migrate(engines)
    pipeline = make_pipeline(engines, tmp_path, NOW)
    pipeline.writer.dead_letter_max_bytes = 4096
    # 1,000 of them ten days old, then 4,000 of today, in the order they arrived
    for day_offset, count in ((10 * DAY, 1000), (0.0, 4000)):
        for start in range(0, count, 500):
            feed(
                pipeline,
                [(f"jishi/v1/lab/junk-{start + i}/state", JUNK) for i in range(500)],
                NOW - day_offset,
            )
    d = tables.dead_letters
    with engines.read.connect() as conn:
        assert conn.execute(select(func.count()).select_from(d)).scalar_one() == 5000

    pruned = housekeeping(engines, config, NOW)

    with engines.read.connect() as conn:
        count, oldest, total = conn.execute(
            select(
                func.count(),
                func.min(d.c.received_at),
                func.sum(func.length(d.c.payload) + func.length(d.c.detail)),
            )
        ).one()
        newest_id = conn.execute(text("SELECT max(id) FROM dead_letters")).scalar_one()
    assert oldest >= NOW - 7 * DAY  # the ten-day-old ones are gone
    assert total <= 1024 * 1024  # within the size bound
    assert 0 < count < 4000
    assert pruned.dead_letters == 5000 - count
    assert newest_id == 5000  # oldest first: the newest is kept
    engines.dispose()
