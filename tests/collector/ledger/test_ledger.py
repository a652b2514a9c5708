"""The ledger on SQLite and PostgreSQL: migrations, dedupe, compact spans, freshness, late data."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from jishi.collector.ingest.pipeline import Received
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.failures import LedgerUnavailable
from jishi.collector.ledger.fleet import usage_by_day_cached
from jishi.collector.ledger.rollup import refresh_rollups
from jishi.collector.service import start_collector

from support import messages as h
from support.ledger import feed, make_config, make_pipeline

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC


def stored_timeline(
    engines: Engines, instrument: str, start: float, end: float
) -> list[tuple[str, float, float]]:
    """(state, start, end) of the stored timeline, as offsets from T0."""
    with engines.read.connect() as conn:
        line = queries.timeline(conn, instrument, start, end)
    return [(i.state, i.start - T0, i.end - T0) for i in line]


def test_migrations_match_the_table_definitions(engines: Engines) -> None:
    with engines.write.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []


def test_heartbeats_are_stored_as_one_span_and_duplicates_are_dropped(
    engines: Engines, tmp_path: Path
) -> None:
    now = T0 + 200
    pipeline = make_pipeline(engines, tmp_path, now)
    msgs = [h.birth("nmr", 0, T0, hb=1.0)]
    msgs += [h.hb("nmr", seq, T0 + seq, "running", since=T0) for seq in range(1, 101)]
    feed(pipeline, msgs, now)
    feed(pipeline, msgs[40:70], now)  # redelivery
    with engines.read.connect() as conn:
        spans = conn.execute(select(tables.spans)).mappings().all()
        claims = conn.execute(select(tables.claims)).mappings().all()
        boots = conn.execute(select(tables.boots.c.ranges)).scalar_one()
    assert len(spans) == 1
    # The evidence: one run of 100 heartbeats, one row.
    assert [(c["observations"], c["seq_lo"], c["seq_hi"]) for c in claims] == [(100, 1, 100)]
    assert spans[0]["start"] == T0 + 1
    assert spans[0]["end"] == T0 + 100 + 2.5
    assert boots == "0-100"
    assert pipeline.metrics.duplicates == 30
    assert pipeline.metrics.stored == 101


def test_state_changes_make_spans_and_the_timeline_matches_the_pure_engine(
    engines: Engines, tmp_path: Path
) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0 + 100)
    scenario = ["idle"] * 10 + ["running"] * 20 + ["idle"] * 5 + ["off"] * 10
    msgs = [h.birth("sem", 0, T0, hb=1.0)]
    for i, st in enumerate(scenario):
        msgs.append(h.hb("sem", i + 1, T0 + i, st))
    feed(pipeline, msgs[:20], T0 + 100)
    feed(pipeline, msgs[20:], T0 + 100)
    with engines.read.connect() as conn:
        got = queries.timeline(conn, "sem", T0 - 10, T0 + 100)
        count = conn.execute(select(func.count()).select_from(tables.spans)).scalar_one()
    want = h.expected_timeline([(p, T0 + 100) for _, p in msgs], "sem", 2.5, T0 - 10, T0 + 100)
    assert got == want
    assert count == 4
    assert [i.state for i in got] == ["unknown", "idle", "running", "idle", "off", "unknown"]


def test_last_will_makes_the_instrument_unknown_from_receive_time(
    engines: Engines, tmp_path: Path
) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0 + 30)
    msgs = [h.birth("xrd", 0, T0, hb=10.0), h.hb("xrd", 1, T0, "running")]
    feed(pipeline, msgs, T0 + 1)
    feed(pipeline, [h.will("xrd", 2, T0)], T0 + 5)
    with engines.read.connect() as conn:
        row = queries.get_instrument(conn, "xrd")
        line = queries.timeline(conn, "xrd", T0, T0 + 40)
    assert row is not None
    view = queries.instrument_view(row, T0 + 6)
    assert view["state"] == "unknown"
    assert view["online"] is False
    assert [(i.state, i.start - T0, i.end - T0) for i in line] == [
        ("running", 0, 5),
        ("unknown", 5, 40),
    ]


def test_state_is_unknown_once_data_is_stale(engines: Engines, tmp_path: Path) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0)
    feed(pipeline, [h.birth("gc", 0, T0, hb=30.0), h.hb("gc", 1, T0, "idle", interval=30)], T0)
    with engines.read.connect() as conn:
        row = queries.get_instrument(conn, "gc")
    assert row is not None
    assert queries.instrument_view(row, T0 + 74)["state"] == "idle"
    stale = queries.instrument_view(row, T0 + 76)
    assert stale["state"] == "unknown"
    assert stale["since"].startswith(h.iso(T0 + 75)[:19])


def test_historical_replay_turns_unknown_into_known(engines: Engines, tmp_path: Path) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0 + 1000)
    live = [h.birth("ms", 0, T0, hb=1.0)] + [h.hb("ms", i, T0 + i, "running") for i in range(1, 11)]
    later = [h.hb("ms", i, T0 + i, "running") for i in range(100, 111)]
    feed(pipeline, live + later, T0 + 1000)
    before = stored_timeline(engines, "ms", T0 + 1, T0 + 110)
    assert [state for state, _, _ in before] == ["running", "unknown", "running"]
    replay = [
        (t, p.replace(b'"historical": false', b'"historical": true'))
        for t, p in (h.hb("ms", i, T0 + i, "running") for i in range(11, 100))
    ]
    feed(pipeline, replay, T0 + 1000)
    assert stored_timeline(engines, "ms", T0 + 1, T0 + 110) == [("running", 1, 110)]


def test_agent_sessions_are_stored(engines: Engines, tmp_path: Path) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0 + 100)
    start = (
        h.topic("nmr", "session"),
        h.payload(
            "session", "nmr", 1, T0, event="start", session_id="s1", user="li", user_type="external"
        ),
    )
    end = (
        h.topic("nmr", "session"),
        h.payload("session", "nmr", 2, T0 + 60, event="end", session_id="s1"),
    )
    feed(pipeline, [start], T0 + 1)
    feed(pipeline, [end], T0 + 61)
    with engines.read.connect() as conn:
        rows = conn.execute(select(tables.sessions)).mappings().all()
    assert len(rows) == 1
    assert (rows[0]["start_ts"], rows[0]["end_ts"], rows[0]["user"], rows[0]["user_type"]) == (
        T0,
        T0 + 60,
        "li",
        "external",
    )


def stored_figures(engines: Engines, day: str) -> dict[str, Any]:
    """The roll-up stored for ``day`` (the figures a report reads without recomputing)."""
    d = tables.daily_usage
    with engines.read.connect() as conn:
        row = conn.execute(select(d).where(d.c.day == day)).mappings().one()
    return {name: row[name] for name in tables.FIGURE_COLUMNS}


def test_rollups_are_recomputed_when_late_data_touches_a_closed_day(
    engines: Engines, tmp_path: Path
) -> None:
    day0 = 1_749_916_800.0  # 2025-06-15 00:00 Asia/Shanghai
    now = day0 + 3 * 86400 + 3600
    pipeline = make_pipeline(engines, tmp_path, now)
    msgs = [h.birth("nmr", 0, day0, hb=60.0)]
    msgs += [h.hb("nmr", i + 1, day0 + 3600 + 60 * i, "running", interval=60) for i in range(60)]
    feed(pipeline, msgs, now)
    cfg = make_config(tmp_path)
    assert refresh_rollups(engines, cfg, now) == 3
    stored = stored_figures(engines, "2025-06-15")
    assert stored["running_s"] == 3600 + 90
    assert stored["effective_s"] == 3690
    # Late data for the first day: the roll-up must not be used until recomputed.
    late = [h.hb("nmr", 1000 + i, day0 + 7200 + 60 * i, "running", interval=60) for i in range(30)]
    feed(pipeline, late, now)
    with engines.read.connect() as conn:
        row = queries.get_instrument(conn, "nmr")
        assert row is not None
        days = usage_by_day_cached(conn, row, cfg, start=day0, end=day0 + 86400, now=now)
    assert days[0][1].running_s == 9090 - 3600  # one run now: 1 h .. 2 h 29 min + 150 s
    assert refresh_rollups(engines, cfg, now) == 1
    stored = stored_figures(engines, "2025-06-15")
    with engines.read.connect() as conn:
        dirty = conn.execute(select(func.count()).select_from(tables.dirty_days)).scalar_one()
    assert stored["running_s"] == days[0][1].running_s
    assert dirty == 0


def test_bad_input_is_dead_lettered_and_ingest_goes_on(engines: Engines, tmp_path: Path) -> None:
    pipeline = make_pipeline(engines, tmp_path, T0)
    bad = [
        (h.topic("a", "hb"), b"{not json"),
        (h.topic("a", "hb"), h.payload("hb", "b", 1, T0, state="idle", since=T0)),
        (h.topic("a", "hb"), b"x" * 70000),
        (h.topic("a", "hb"), h.payload("hb", "a", 2, T0 + 86400, state="idle", since=T0)),
    ]
    good = [h.hb("a", 3, T0, "idle")]
    feed(pipeline, bad + good, T0)
    with engines.read.connect() as conn:
        reasons = sorted(conn.execute(select(tables.dead_letters.c.reason)).scalars())
        sizes = conn.execute(select(func.max(func.length(tables.dead_letters.c.payload)))).scalar()
        stored = conn.execute(select(func.count()).select_from(tables.spans)).scalar_one()
    assert reasons == ["future_ts", "instrument_mismatch", "malformed_json", "oversized"]
    assert sizes == 256
    assert stored == 1
    assert time.time() > 0


def pick(row: Mapping[str, Any], *columns: str) -> tuple[Any, ...]:
    return tuple(row[column] for column in columns)


def test_registry_edits_reach_the_ledger_at_every_start(engines: Engines, tmp_path: Path) -> None:
    now = T0 + 100
    first = {
        "database": {"url": engines.url},
        "instruments": [
            {"id": "nmr", "name": "NMR 600", "quota_h": 1000, "inner_id": "A1"},
            {"id": "old", "name": "Retired XRD", "unit": "Physics"},
        ],
    }
    pipeline = make_pipeline(engines, tmp_path, now, **first)
    feed(
        pipeline,
        [
            h.birth("nmr", 0, T0, boot="boot-nmr", name="agent name"),
            h.birth("old", 0, T0, boot="boot-old"),
            h.birth("free", 0, T0, boot="boot-free", name="Announced", unit="Bio"),
        ],
        now,
    )
    assert pipeline.metrics.dead_letters == {}
    # The office corrects the quota and inner id, registers "free", retires "old".
    second = make_config(
        tmp_path,
        database={"url": engines.url},
        instruments=[
            {"id": "nmr", "quota_h": 1200, "inner_id": "A2", "unit": "Chemistry"},
            {"id": "free", "name": "Confocal", "category": "specialised"},
            {"id": "never", "name": "New cryo-EM", "quota_h": 800, "inner_id": "A9"},
        ],
    )
    start_collector(second, ingest=False, api=False).stop()

    with engines.read.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(select(tables.instruments)).mappings()}
    nmr, free, old = rows["nmr"], rows["free"], rows["old"]
    # Registry values win; a name the registry leaves out stays as it was.
    assert pick(nmr, "quota_h", "inner_id", "unit", "name") == (1200, "A2", "Chemistry", "NMR 600")
    registered = (True, "Confocal", "specialised", "Bio")
    assert pick(free, "registered", "name", "category", "unit") == registered
    assert pick(old, "registered", "name", "unit") == (False, "Retired XRD", "Physics")
    # Registered but never heard from: listed, unknown, no site yet, with its quota.
    view = queries.instrument_view(rows["never"], now)
    assert pick(view, "state", "site", "quota_h", "inner_id") == ("unknown", None, 800, "A9")
    # Its first message (a heartbeat: the birth may have come before the collector) names
    # its site.
    later = make_pipeline(engines, tmp_path, now, database={"url": engines.url})
    feed(later, [h.hb("never", 1, T0 + 50, "idle", boot="boot-never")], now)
    with engines.read.connect() as conn:
        never = queries.get_instrument(conn, "never")
    assert never is not None
    assert pick(never, "site", "name", "state") == ("lab", "New cryo-EM", "idle")


def test_driver_errors_inside_a_batch_are_retried_not_fatal(
    engines: Engines, tmp_path: Path
) -> None:
    """The writer talks to the DBAPI cursor directly for speed; a lock timeout (PostgreSQL) or
    a vanished table (SQLite) there must still reach the pipeline as SQLAlchemy's
    OperationalError, which the pipeline raises as LedgerUnavailable (the batch kept
    unacknowledged and retried), instead of a raw driver error that would end the writer."""
    now = T0 + 100
    setup = make_pipeline(engines, tmp_path, now)
    feed(setup, [h.birth("nmr", 0, T0, boot="boot-nmr")], now)
    batch = [Received(*h.hb("nmr", 1, T0 + 1, "idle", boot="boot-nmr"), now)]
    if engines.dialect == "postgresql":
        # Another transaction holds the boot row; the writer gives up after 200 ms.
        impatient = open_engines(engines.url + "?options=-c%20lock_timeout%3D200")
        pipeline = make_pipeline(impatient, tmp_path, now)
        holder = engines.write.connect()
        holder.begin()
        holder.execute(text("SELECT * FROM boots WHERE boot_id = 'boot-nmr' FOR UPDATE"))
        try:
            with pytest.raises(LedgerUnavailable) as failed:
                pipeline.process(batch)
            assert isinstance(failed.value.__cause__, OperationalError)
        finally:
            holder.rollback()
            holder.close()
            impatient.dispose()
    else:
        with engines.write.begin() as conn:
            conn.execute(text("ALTER TABLE boots RENAME TO boots_away"))
        with pytest.raises(LedgerUnavailable) as failed:
            make_pipeline(engines, tmp_path, now).process(batch)
        assert isinstance(failed.value.__cause__, OperationalError)
        with engines.write.begin() as conn:
            conn.execute(text("ALTER TABLE boots_away RENAME TO boots"))
    # Once the obstacle is gone the same batch goes through.
    pipeline = make_pipeline(engines, tmp_path, now)
    pipeline.process(batch)
    assert pipeline.metrics.stored == 1


def test_a_late_point_that_shortens_a_run_marks_every_day_it_changed(
    engines: Engines, tmp_path: Path
) -> None:
    """A run fresh past midnight, then cut short before midnight (the agent restarted, with a
    shorter heartbeat): the day after changed too, and its roll-up must be redone, although
    the new boot and its heartbeat lie in the first day."""
    day0 = 1_749_916_800.0  # 2025-06-15 00:00 Asia/Shanghai
    now = day0 + 4 * 86400
    pipeline = make_pipeline(engines, tmp_path, now)
    evening = day0 + 23 * 3600
    # Heartbeat every hour: fresh 2.5 h, so the run reaches 01:30 on the 16th.
    feed(
        pipeline,
        [
            h.birth("nmr", 0, evening - 60, boot="boot-nmr", hb=3600.0),
            h.hb("nmr", 1, evening, "running", boot="boot-nmr", interval=3600),
        ],
        evening + 1,  # received as sent
    )
    cfg = make_config(tmp_path)
    refresh_rollups(engines, cfg, now)
    # The agent restarts with a 60 s heartbeat (fresh 150 s): the run now ends at 23:12:30.
    feed(
        pipeline,
        [
            h.birth("nmr", 0, evening + 500, boot="boot-nmr2", hb=60.0),
            h.hb("nmr", 1, evening + 600, "running", boot="boot-nmr2", interval=60),
        ],
        evening + 501,  # the new boot is first heard of here
    )
    refresh_rollups(engines, cfg, now)
    with engines.read.connect() as conn:
        row = queries.get_instrument(conn, "nmr")
        assert row is not None
        cached = usage_by_day_cached(conn, row, cfg, start=day0, end=day0 + 2 * 86400, now=now)
        line = queries.timeline(conn, "nmr", day0 + 86400, day0 + 2 * 86400)
    assert [i.state for i in line] == ["unknown"]  # the 16th: nothing known any more
    # The first boot's run ends where the second boot began: schema 1 boots announce no
    # start, so where it was first heard of (23:08:21): 501 s, then the second boot's one
    # heartbeat, fresh 150 s.
    assert [figures.running_s for _day, figures in cached] == [651.0, 0.0]


def test_a_boot_id_belongs_to_its_instrument(engines: Engines, tmp_path: Path) -> None:
    """Schema 2 agents give each instrument its own boot id. A broker user who copies another
    instrument's boot id (it is in the retained births) and its coming seq numbers onto their
    own topic is refused; the real messages are not mistaken for duplicates."""
    pipeline = make_pipeline(engines, tmp_path, T0 + 100)
    v2 = {"schema": 2, "boot_at": T0 - 10}
    victim = "boot-victim-0001"
    feed(pipeline, [h.birth("nmr", 0, T0, boot=victim, **v2)], T0)
    forged = [
        (
            h.topic("evil", "hb"),
            h.payload("hb", "evil", seq, T0 + seq, boot=victim, state="off", since=T0, **v2),
        )
        for seq in range(1, 6)
    ]
    feed(pipeline, forged, T0 + 1)
    real = [
        (
            h.topic("nmr", "hb"),
            h.payload(
                "hb",
                "nmr",
                seq,
                T0 + seq,
                boot=victim,
                state="running",
                since=T0,
                interval_s=1.0,
                prev_seq=seq - 1 if seq > 1 else None,
                **v2,
            ),
        )
        for seq in range(1, 6)
    ]
    feed(pipeline, [(t, p.replace(b', "prev_seq": null', b"")) for t, p in real], T0 + 6)
    assert pipeline.metrics.dead_letters == {"boot_mismatch": 5}
    assert stored_timeline(engines, "nmr", T0 + 1, T0 + 5) == [("running", 1, 5)]
    with engines.read.connect() as conn:
        evil = queries.get_instrument(conn, "evil")
    assert evil is None or evil["state"] is None


def test_an_upgraded_ledger_keeps_its_history_and_the_next_boot_ends_it(
    ledger_url: str, tmp_path: Path
) -> None:
    """A ledger written before the evidence model (revision 0003, spans only): after the
    upgrade the old spans are evidence of a 'legacy' boot, the timeline is unchanged, and the
    first boot heard of afterwards ends that history where it began."""
    engines = open_engines(ledger_url)
    try:
        migrate(engines, "0003")
        span = text(
            'INSERT INTO spans (instrument_id, state, start, "end", last_ts, observations, '
            "historical) VALUES ('nmr', :state, :start, :end, :last, 3, false)"
        )
        with engines.write.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO instruments (id, site, category, registered, state, last_ts, "
                    "created_at, heartbeat_interval_s) VALUES ('nmr', 'lab', 'general', false, "
                    "'running', :last, :created, 30)"
                ),
                {"last": T0 + 290, "created": T0},
            )
            for start, end, state in ((T0, T0 + 100, "idle"), (T0 + 100, T0 + 365, "running")):
                conn.execute(span, {"state": state, "start": start, "end": end, "last": start})
            # An old will marker: a zero-length unknown span.
            conn.execute(span, {"state": "unknown", "start": T0 + 50, "end": T0 + 50, "last": None})
        migrate(engines)
        assert stored_timeline(engines, "nmr", T0, T0 + 400) == [
            ("idle", 0, 100),
            ("running", 100, 365),
            ("unknown", 365, 400),
        ]
        # The agent restarts at +300 (schema 2): the old history ends there, not at +365.
        pipeline = make_pipeline(engines, tmp_path, T0 + 400)
        v2 = {"schema": 2, "boot_at": T0 + 300}
        feed(pipeline, [h.birth("nmr", 0, T0 + 300, boot="boot-new-0001", hb=30.0, **v2)], T0 + 300)
        feed(
            pipeline,
            [h.hb("nmr", 1, T0 + 320, "idle", boot="boot-new-0001", interval=30.0)],
            T0 + 320,
        )
        assert stored_timeline(engines, "nmr", T0, T0 + 400) == [
            ("idle", 0, 100),
            ("running", 100, 300),
            ("unknown", 300, 320),
            ("idle", 320, 395),
            ("unknown", 395, 400),
        ]
    finally:
        engines.dispose()
