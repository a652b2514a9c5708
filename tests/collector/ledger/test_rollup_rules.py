"""A corrected quota or usage rule reaches the days already rolled up (found while writing the
Chinese docs: a quota changed in collector.toml left every closed day at the old quota, so a
year's utilization mixed both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.fleet import usage_grouped
from jishi.collector.ledger.live import live_buckets
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.ledger.rollup_rules import retire_changed_rollups
from jishi.collector.usage.periods import split_by_day

from support import messages as h
from support.ledger import feed, make_config, make_pipeline

DAY = 86_400.0
DAY0 = 1_767_196_800.0  # 2026-01-01 00:00 Asia/Shanghai
NOW = DAY0 + 40 * DAY + 3600  # 2026-02-10 01:00: January is a closed month


def _config(tmp_path: Path, quota_h: float, merge_gap_s: float = 300) -> Any:
    return make_config(
        tmp_path,
        instruments=[{"id": "nmr", "quota_h": quota_h}, {"id": "xrd"}],
        policy={"merge_gap_s": merge_gap_s},
    )


def _fill(engines: Engines, tmp_path: Path, config: Any) -> None:
    sync_registry(engines, config.registry(), DAY0)
    pipeline = make_pipeline(engines, tmp_path, DAY0, instruments=[{"id": "nmr"}, {"id": "xrd"}])
    messages = [h.birth(i, 0, DAY0, hb=7200.0, boot=f"boot-{i}") for i in ("nmr", "xrd")]
    for k in range(40):  # a run from 09:00 to 12:00 each day, an idle gap of 10 minutes
        at = DAY0 + k * DAY + 9 * 3600
        for j, (offset, state) in enumerate(
            [(0, "running"), (5400, "idle"), (6000, "running"), (10800, "off")]
        ):
            messages += [
                h.state(i, 1 + 4 * k + j, at + offset, state, boot=f"boot-{i}")
                for i in ("nmr", "xrd")
            ]
    pipeline.clock = lambda: NOW
    feed(pipeline, messages, NOW)


def _figures(engines: Engines, config: Any) -> tuple[Any, Any]:
    """January (a closed month, from roll-ups) of nmr by the fast path, and computed live."""
    start, end = DAY0, DAY0 + 31 * DAY
    with engines.read.connect() as conn:
        rows = queries.instrument_rows(conn, ids=["nmr"])
        fast = usage_grouped(conn, rows, config, start, end, NOW, "instrument")["nmr"]
        days = split_by_day(start, end, config.site.timezone)
        live = sum(
            live_buckets(conn, rows[0], config, days, NOW)[1:],
            live_buckets(conn, rows[0], config, days, NOW)[0],
        )
    return fast, live


def _rollup_count(engines: Engines, instrument: str) -> int:
    d = tables.daily_usage
    with engines.read.connect() as conn:
        query = select(func.count()).select_from(d).where(d.c.instrument_id == instrument)
        return int(conn.execute(query).scalar_one())


def test_a_corrected_quota_or_rule_reaches_past_days(engines: Engines, tmp_path: Path) -> None:
    before = _config(tmp_path, quota_h=1000)
    _fill(engines, tmp_path, before)
    assert retire_changed_rollups(engines, before, NOW) == []  # nothing rolled up yet
    refresh_rollups(engines, before, NOW)
    assert _rollup_count(engines, "nmr") == 40
    assert retire_changed_rollups(engines, before, NOW) == []  # same rules: kept

    corrected = _config(tmp_path, quota_h=1830)
    sync_registry(engines, corrected.registry(), NOW)
    assert retire_changed_rollups(engines, corrected, NOW) == ["nmr"]  # xrd's rules are the same
    assert (_rollup_count(engines, "nmr"), _rollup_count(engines, "xrd")) == (0, 40)
    fast, live = _figures(engines, corrected)  # computed live meanwhile
    assert fast.quota_s == pytest.approx(1830 * 3600 * 31 / 365)
    refresh_rollups(engines, corrected, NOW)
    assert _rollup_count(engines, "nmr") == 40
    fast, live = _figures(engines, corrected)
    assert fast.quota_s == pytest.approx(live.quota_s) == pytest.approx(1830 * 3600 * 31 / 365)
    assert fast.effective_s == pytest.approx(31 * (3 * 3600 - 600))  # the idle gap is not

    # A site rule: the 10-minute idle gap between two runs counts as effective once the merge
    # gap exceeds it.
    merged = _config(tmp_path, quota_h=1830, merge_gap_s=1200)
    assert retire_changed_rollups(engines, merged, NOW) == ["nmr", "xrd"]
    refresh_rollups(engines, merged, NOW)
    fast, live = _figures(engines, merged)
    assert fast.effective_s == pytest.approx(live.effective_s) == pytest.approx(31 * 3 * 3600)


def test_roll_ups_from_before_the_fingerprints_are_recomputed_once(
    engines: Engines, tmp_path: Path
) -> None:
    config = _config(tmp_path, quota_h=1000)
    _fill(engines, tmp_path, config)
    refresh_rollups(engines, config, NOW)
    with engines.write.begin() as conn:  # a ledger upgraded from a version without them
        conn.execute(tables.rollup_rules.delete())
    assert retire_changed_rollups(engines, config, NOW) == ["nmr", "xrd"]
    assert retire_changed_rollups(engines, config, NOW) == []
    # A bulk build that knows its roll-ups follow this config only records the rules.
    refresh_rollups(engines, config, NOW)
    with engines.write.begin() as conn:
        conn.execute(tables.rollup_rules.delete())
    assert retire_changed_rollups(engines, config, NOW, retire=False) == []
    assert _rollup_count(engines, "nmr") == 40
    assert retire_changed_rollups(engines, config, NOW) == []
