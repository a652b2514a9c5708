"""The fleet fast path (roll-ups, empty stretches in O(1), live days in batches) against the live
engine, on random fleets with gaps, late data and sessions (issue 18).

A fleet of instruments of every kind (years of history, new, silent, never heard, gappy) is fed
through the real write path over two months; roll-ups are refreshed part way, then late data
(a backlog dated back, sessions imported afterwards) dirties closed days, and a second refresh
may or may not have run when the figures are asked for. For periods that cross months, start
mid-day, reach before any data or end now, every grouping must equal the live engine over the
period (each instrument's timeline and sessions, every day computed from the spans) up to the
order of float additions.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from jishi.collector.ingest.pipeline import Received
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.fleet import usage_by_day_cached, usage_grouped
from jishi.collector.ledger.live import live_buckets
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.ledger.session_input import SessionRecord
from jishi.collector.ledger.sessions import store_sessions
from jishi.collector.usage.engine import FIGURE_NAMES, Session, UsageFigures
from jishi.collector.usage.periods import split_by_day

from support import messages as h
from support.ledger import feed, make_config, make_pipeline

DAY = 86_400.0
DAY0 = 1_737_302_400.0  # 2025-01-20 00:00 Asia/Shanghai
NOW = DAY0 + 58 * DAY + 13.5 * 3600  # 2025-03-19 13:30
HB = 6 * 3600.0  # announced heartbeat interval: a message is fresh for 15 h
KINDS = ("history", "history", "new", "silent", "never", "gappy")
STATES = ("running", "running", "idle", "idle", "off", "fault", "maintenance")
_run = itertools.count()


def _messages(rng: random.Random, name: str, kind: str) -> list[tuple[float, tuple[str, bytes]]]:
    """(receive time, message) of one instrument: its birth, then state changes every few hours
    (longer pauses than the freshness make unknown time)."""
    first, last = {"new": (50, 58), "silent": (0, 20), "never": (0, 0)}.get(kind, (0, 58))
    if kind == "never":
        return []
    ts = DAY0 + first * DAY + rng.randrange(0, 40_000)
    out = [(ts, h.birth(name, 0, ts, hb=HB))]
    seq, end = 0, min(DAY0 + last * DAY + 40_000, NOW - 600)
    while ts < end:
        seq += 1
        out.append((ts, h.state(name, seq, ts, rng.choice(STATES), prev_seq=seq - 1 or None)))
        pause = rng.choice([1800, 3600, 7200, 4 * 3600, 9 * 3600])
        if kind == "gappy" and rng.random() < 0.1:
            pause = 3 * DAY  # silence: days of unknown
        ts += pause + rng.randrange(0, 600)
    return out


def _backlog(rng: random.Random, name: str) -> list[tuple[str, bytes]]:
    """A record read late by a new boot: a closed run on a day well in the past."""
    day = DAY0 + rng.randrange(3, 30) * DAY
    start = day + rng.randrange(0, 60_000)
    until = start + rng.randrange(600, 20_000)
    boot = f"late-{name}"
    return [
        h.birth(name, 0, NOW - 7 * DAY, boot=boot, hb=HB),
        h.stated("state", name, 1, NOW - 7 * DAY, "running", since=start, until=until, boot=boot),
    ]


def _sessions(rng: random.Random, names: list[str]) -> list[SessionRecord]:
    out = []
    for k in range(12):
        start = DAY0 + rng.randrange(0, 58 * 86_400)
        length = rng.choice([1800, 7200, 30_000, 2 * 86_400])
        user_type = rng.choice(["internal", "external", "staff", None])
        session = Session(start, start + length, user=f"u{k}", user_type=user_type,
                          session_id=f"s{k}")  # fmt: skip
        out.append(SessionRecord(rng.choice(names), session))
    return out


def _build(engines: Engines, tmp_path: Path, seed: int) -> tuple[Any, list[str]]:
    rng = random.Random(seed)
    prefix = f"f{next(_run)}"
    names = [f"{prefix}{kind}{k}" for k, kind in enumerate(KINDS)]
    registry = [
        {"id": n, "unit": f"unit{k % 3}", "category": ("general", "specialised")[k % 2]}
        for k, n in enumerate(names)
    ]
    # Rules that reach across midnight, so the context around live days matters.
    rules = {"merge_gap_s": 7200, "prep_window_s": 1800, "post_window_s": 900}
    config = make_config(tmp_path, instruments=registry, policy=rules)
    sync_registry(engines, config.registry(), DAY0)
    stream = sorted(
        (item for n, kind in zip(names, KINDS, strict=True) for item in _messages(rng, n, kind)),
        key=lambda item: item[0],
    )
    clock = [DAY0]
    pipeline = make_pipeline(engines, tmp_path, DAY0, instruments=registry)
    pipeline.clock = lambda: clock[0]
    midway = DAY0 + 40 * DAY
    for k in range(0, len(stream), 40):
        batch = stream[k : k + 40]
        clock[0] = batch[-1][0]
        pipeline.process([Received(t, p, when) for when, (t, p) in batch])
        if midway and clock[0] >= midway:
            refresh_rollups(engines, config, midway)
            midway = 0.0
    late = NOW - 2 * DAY
    pipeline = make_pipeline(engines, tmp_path, late, instruments=registry)
    for name in rng.sample(names[:4], 2):
        feed(pipeline, _backlog(rng, name), late)
    store_sessions(engines, _sessions(rng, names), "test", late, config.site.timezone)
    if rng.random() < 0.5:
        refresh_rollups(engines, config, NOW)
    return config, names


def _truth(
    engines: Engines, config: Any, names: list[str], period: tuple[float, float], group_by: str
) -> dict[str, UsageFigures]:
    """The live engine over the whole period, every day from the spans, summed by group."""
    days = split_by_day(*period, config.site.timezone)
    out: dict[str, UsageFigures] = {}
    with engines.read.connect() as conn:
        for name in names:
            row = queries.get_instrument(conn, name)
            assert row is not None
            for bucket, figures in zip(
                days, live_buckets(conn, row, config, days, NOW), strict=True
            ):
                key = {"instrument": name, "unit": row["unit"] or "", "day": bucket.key}.get(
                    group_by, bucket.key[:7]
                )
                out[key] = out[key] + figures if key in out else figures
    return out


PERIODS = [
    (DAY0 - 400 * DAY, NOW),  # back into the previous year: long before any data
    (DAY0 + 11 * DAY, DAY0 + 40 * DAY),  # whole days across the month boundary
    (DAY0 + 12 * DAY, DAY0 + 58 * DAY),  # a whole February and more, up to yesterday
    (DAY0 + 5.3 * DAY, NOW - 3600),  # starts and ends inside days
    (NOW - 3 * DAY, NOW),
]


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.integers(0, 2**32))
def test_fleet_figures_equal_the_live_engine(engines: Engines, tmp_path: Path, seed: int) -> None:
    config, names = _build(engines, tmp_path, seed)
    # A mark inside a whole month (late data whose roll-up pass has not run yet): that month's
    # row is not used, the day is computed live and the month's other days come from their
    # daily rows, read in detail.
    dd = tables.dirty_days
    with engines.write.begin() as conn:
        conn.execute(dd.delete().where(dd.c.instrument_id == names[0], dd.c.day == "2025-02-14"))
        conn.execute(
            dd.insert(),
            [{"instrument_id": names[0], "day": "2025-02-14", "marked_at": NOW}],
        )
    with engines.read.connect() as conn:
        rows = queries.instrument_rows(conn, ids=names)
        stored = conn.execute(tables.daily_usage.select()).all()
    assert stored, "the refresh must have stored roll-ups, or the fast path is not exercised"
    for (start, end), group_by in itertools.product(
        PERIODS, ("instrument", "unit", "day", "month")
    ):
        with engines.read.connect() as conn:
            fast = usage_grouped(conn, rows, config, start, end, NOW, group_by)  # type: ignore[arg-type]  # a literal from the product above
        truth = _truth(engines, config, names, (start, end), group_by)
        assert set(fast) == set(truth), (group_by, start, end)
        for key, want in truth.items():
            for name in FIGURE_NAMES:
                got, expected = getattr(fast[key], name), getattr(want, name)
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-6), (
                    f"seed {seed} {group_by} [{start}, {end}) {key} {name}: {got} != {expected}"
                )


def migrate_down(engines: Engines, revision: str) -> None:
    """Alembic's downgrade on the ledger (the collector itself only ever upgrades)."""
    from alembic import command
    from alembic.config import Config

    from jishi.collector.ledger.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engines.write.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_roll_ups_stored_as_json_become_columns_and_months_follow(
    ledger_url: str, tmp_path: Path
) -> None:
    """A ledger from before issue 18 (revision 0006: roll-up figures as JSON text) keeps its
    roll-ups as numbers after the upgrade, and the next roll-up pass builds its closed months
    from them; downgrading gives the JSON back."""
    engines = open_engines(ledger_url)
    try:
        migrate(engines, "0006")
        figures = {"period_s": 86_400.0, "running_s": 3600.5, "quota_s": 13_808.2}
        with engines.write.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO daily_usage (instrument_id, day, figures, computed_at) "
                    "VALUES ('nmr', :day, :figures, 0)"
                ),
                [{"day": f"2025-02-{d:02d}", "figures": json.dumps(figures)} for d in range(1, 29)],
            )
        migrate(engines)
        d = tables.daily_usage
        with engines.read.connect() as conn:
            row = conn.execute(select(d).where(d.c.day == "2025-02-03")).mappings().one()
        assert (row["running_s"], row["quota_s"], row["idle_s"]) == (3600.5, 13_808.2, 0.0)
        config = make_config(tmp_path, instruments=[{"id": "nmr"}])
        sync_registry(engines, config.registry(), DAY0)
        refresh_rollups(engines, config, NOW, max_days=0)
        m = tables.monthly_usage
        with engines.read.connect() as conn:
            month = conn.execute(select(m)).mappings().one()
        assert (month["month"], month["first_day"], month["days"]) == ("2025-02", "2025-02-01", 28)
        assert month["running_s"] == pytest.approx(28 * 3600.5)
        migrate_down(engines, "0006")
        with engines.read.connect() as conn:
            text_back = conn.execute(text("SELECT figures FROM daily_usage LIMIT 1")).scalar_one()
        assert json.loads(text_back)["running_s"] == 3600.5
    finally:
        engines.dispose()


def test_roll_up_columns_are_the_engine_figures() -> None:
    assert tables.FIGURE_COLUMNS == FIGURE_NAMES


def test_the_roll_up_pass_fills_every_closed_day_and_month_then_rests(
    engines: Engines, tmp_path: Path
) -> None:
    """Every closed day since the first observation gets a daily row and every closed month a
    monthly row; a second pass finds nothing to do; a day marked dirty is recomputed and its
    month rebuilt."""
    config = make_config(tmp_path, instruments=[{"id": "xrd"}])
    sync_registry(engines, config.registry(), DAY0)
    start = DAY0 + 3 * DAY + 3600  # 2025-01-23 01:00
    pipeline = make_pipeline(engines, tmp_path, start, instruments=[{"id": "xrd"}])
    feed(pipeline, [h.birth("xrd", 0, start, hb=HB), h.state("xrd", 1, start, "running")], start)
    now = DAY0 + 45 * DAY + 600  # 2025-03-06 00:10
    assert refresh_rollups(engines, config, now) == 42  # 2025-01-23 .. 2025-03-05
    d, m = tables.daily_usage, tables.monthly_usage
    with engines.read.connect() as conn:
        months = conn.execute(select(m.c.month, m.c.first_day, m.c.days)).all()
    assert sorted(months) == [("2025-01", "2025-01-23", 9), ("2025-02", "2025-02-01", 28)]
    assert refresh_rollups(engines, config, now) == 0
    dd = tables.dirty_days
    with engines.write.begin() as conn:
        conn.execute(dd.insert().values(instrument_id="xrd", day="2025-02-11", marked_at=now))
    assert refresh_rollups(engines, config, now + 60) == 1
    with engines.read.connect() as conn:
        rebuilt = conn.execute(select(m.c.days, m.c.computed_at).where(m.c.month == "2025-02"))
        assert rebuilt.one() == (28, now + 60)
        assert conn.execute(select(func.count()).select_from(dd)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(d)).scalar_one() == 42


def test_late_data_after_midnight_marks_the_day_before_that_it_changes(
    engines: Engines, tmp_path: Path
) -> None:
    """Running until 23:57, idle since: a record read late says running again from 00:03. The
    idle gap (6 min) is now shorter than merge_gap between running, so the day before gains 3
    effective minutes although the record touches only the next day: that day must be marked
    too, or its stored roll-up stays short."""
    d = DAY0  # day D, 00:00
    start, idle, back = d + 22 * 3600, d + 86_400 - 180, d + 86_400 + 180
    now = d + 2 * 86_400 + 36_000
    config = make_config(tmp_path, instruments=[{"id": "ms"}])
    sync_registry(engines, config.registry(), d)
    pipeline = make_pipeline(engines, tmp_path, now, instruments=[{"id": "ms"}])
    feed(
        pipeline,
        [
            h.birth("ms", 0, start, hb=3600.0),
            h.state("ms", 1, start, "running"),
            h.state("ms", 2, idle, "idle", prev_seq=1),
        ],
        now - 3600,
    )
    refresh_rollups(engines, config, now - 3600)
    feed(pipeline, [h.state("ms", 3, back, "running", prev_seq=2)], now)
    with engines.read.connect() as conn:
        row = queries.get_instrument(conn, "ms")
        assert row is not None
        days = split_by_day(d, d + 2 * 86_400, config.site.timezone)
        live = live_buckets(conn, row, config, days, now)
        served = [f for _, f in usage_by_day_cached(conn, row, config, d, d + 2 * 86_400, now)]
    assert live[0].effective_s == 2 * 3600 - 180 + 180  # 22:00-23:57 running, 3 min credited
    assert served == live
    refresh_rollups(engines, config, now)
    with engines.read.connect() as conn:
        stored = [f for _, f in usage_by_day_cached(conn, row, config, d, d + 2 * 86_400, now)]
    assert stored == live
