"""The ledger writer against the pure engine, for any arrival order and any batching.

Messages about two instruments from several agent boots (DESIGN.md, "Freshness, evidence and
unknown time"): heartbeats, state changes dated back (``since`` before ``ts``: a record read
late, a log backlog), closed records (``until``), Last Wills, and messages lost for good (a gap
in the ``prev_seq`` chain). They arrive in any order with redeliveries, cut into batches that
two writers take in turns (two collectors on a shared subscription); some batches are rolled
back after the writer has done its work (a failed commit) and delivered again. The stored
timeline must equal :func:`jishi.collector.evidence.resolve` of every message delivered, and
each instrument row must name the state of its highest-ranked message that is not a closed
record.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.rollup import live_buckets, refresh_rollups, usage_by_day_cached
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from collector import helpers as h
from collector.conftest import make_config
from collector.test_ledger import make_pipeline

T0 = 1_750_000_000.0
HB_INTERVAL = 4.0
STALE = 2.5 * HB_INTERVAL
RECEIVED = T0 + 200.0  # when everything but a will arrives (after every drawn ts)
_run = itertools.count()


@dataclass(frozen=True)
class Event:
    """One message an agent sent. ``kind``: hb, state (open, since = ts - back), closed
    (since = ts - back - length, until = ts - back) or will (received ``back`` s after ts)."""

    instrument: str
    boot: int  # 0, 1, 2: later boots began later
    kind: str
    seq: int
    prev: int | None  # the seq of the boot's previous hb/state message (the chain)
    ts: int  # seconds after T0
    state: str
    back: int
    length: int = 0
    lost: bool = False  # never delivered (a gap in the chain)


def boot_start(boot: int) -> int:
    return 25 * boot


@st.composite
def boot_events(draw: st.DrawFn, instrument: str, boot: int) -> list[Event]:
    events: list[Event] = []
    ts = boot_start(boot)
    prev: int | None = None
    for seq in range(1, draw(st.integers(0, 9)) + 1):
        ts += draw(st.integers(0, 6))  # the agent's clock: never backwards within a boot
        kind = draw(st.sampled_from(["hb", "hb", "hb", "state", "closed", "will"]))
        event = Event(
            instrument,
            boot,
            kind,
            seq,
            prev if kind != "will" else None,
            ts,
            draw(st.sampled_from(["idle", "running", "off", "fault"])),
            draw(st.integers(0, 12)) if kind != "will" else draw(st.integers(0, 3)),
            draw(st.integers(1, 10)),
            draw(st.integers(0, 9)) == 0,
        )
        if kind != "will":
            prev = seq
        events.append(event)
    return events


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Event], list[int], list[tuple[int, bool]]]:
    """Events in arrival order (with redeliveries), the batch cuts, and for each batch which
    writer takes it and whether its first attempt is rolled back."""
    events: list[Event] = []
    for instrument in ("a", "b"):
        for boot in range(draw(st.integers(1, 3))):
            events += draw(boot_events(instrument, boot))
    order = [e for e in draw(st.permutations(events)) if not e.lost]
    redelivered = draw(st.lists(st.sampled_from(order), max_size=4)) if order else []
    for event in redelivered:
        order.insert(draw(st.integers(0, len(order))), event)
    cuts = sorted(draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=6)))
    turns = draw(
        st.lists(st.tuples(st.integers(0, 1), st.booleans()), min_size=len(cuts) + 1, max_size=7)
    )
    return order, cuts, turns


def _message(
    prefix: str, event: Event, scale: float = 1.0, base: float = T0, received: float = RECEIVED
) -> Received:
    name = f"{prefix}{event.instrument}"
    boot = f"boot-{name}-{event.boot}"
    boot_at = base + boot_start(event.boot) * scale
    ts = base + event.ts * scale
    v2 = {"schema": 2, "boot_at": boot_at}
    if event.kind == "will":
        received_at = ts + event.back * scale
        body = h.payload("status", name, event.seq, ts, boot=boot, online=False, **v2)
        return Received(h.topic(name, "status"), body, received_at)
    chain = {} if event.prev is None else {"prev_seq": event.prev}
    if event.kind == "hb":
        body = h.payload(
            "hb",
            name,
            event.seq,
            ts,
            boot=boot,
            state=event.state,
            since=ts,
            interval_s=HB_INTERVAL * scale,
            **v2,
            **chain,
        )
        return Received(h.topic(name, "hb"), body, received)
    since = ts - event.back * scale
    extra = {}
    if event.kind == "closed":
        extra = {"until": since}
        since -= event.length * scale
    body = h.payload(
        "state",
        name,
        event.seq,
        ts,
        boot=boot,
        state=event.state,
        since=since,
        evidence="record",
        **extra,
        **v2,
        **chain,
    )
    return Received(h.topic(name, "state"), body, received)


def _births(
    prefix: str,
    events: list[Event],
    *,
    interval: float,
    at: float,
    scale: float = 1.0,
    base: float = T0,
) -> list[Received]:
    """A birth per boot, first and in its own batch: it fixes the heartbeat interval."""
    out = []
    for instrument, boot in sorted(
        {(e.instrument, e.boot) for e in events} | {(i, 0) for i in "ab"}
    ):
        name = f"{prefix}{instrument}"
        topic, body = h.birth(
            name,
            0,
            at,
            hb=interval,
            boot=f"boot-{name}-{boot}",
            schema=2,
            boot_at=base + boot_start(boot) * scale,
        )
        out.append(Received(topic, body, at))
    return out


def _want_state(events: list[Event], instrument: str) -> str | None:
    """The state of the highest-ranked delivered message that is not a closed record (the
    agent's clock never goes back within a boot, so seq order is rank order)."""
    mine = [e for e in events if e.instrument == instrument and e.kind in ("hb", "state")]
    if not mine:
        return None
    return max(mine, key=lambda e: (e.boot, e.seq)).state


def _check(
    engines: Engines,
    prefix: str,
    *,
    received: list[Received],
    events: list[Event],
    stale: float,
    lo: float,
    hi: float,
) -> None:
    for instrument in ("a", "b"):
        name = f"{prefix}{instrument}"
        want = h.expected_timeline(
            [(r.payload, r.received_at) for r in received], name, stale, lo, hi
        )
        with engines.read.connect() as conn:
            got = queries.timeline(conn, name, lo, hi)
            state = conn.execute(
                select(tables.instruments.c.state).where(tables.instruments.c.id == name)
            ).scalar()
        assert got == want, f"instrument {instrument}: {events}"
        assert state == _want_state(events, instrument)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arrivals())
@example(
    # A heartbeat sent before the run was recorded ("idle") must not cut the record short.
    case=(
        [
            Event("a", 0, "hb", 1, None, 5, "idle", 0),
            Event("a", 0, "hb", 2, 1, 9, "idle", 0),
            Event("a", 0, "state", 3, 2, 12, "running", 10),
        ],
        [],
        [(0, False)],
    )
)
@example(
    # The record arrives first; the older heartbeats later (another collector's batch).
    case=(
        [
            Event("a", 0, "closed", 3, 2, 12, "running", 2, 8),
            Event("a", 0, "hb", 2, 1, 9, "idle", 0),
            Event("a", 0, "hb", 1, None, 5, "idle", 0),
        ],
        [1],
        [(0, False), (1, True)],
    )
)
@example(
    # A will, then the boot's replay continues the chain across it: withdrawn.
    case=(
        [
            Event("b", 0, "hb", 1, None, 2, "running", 0),
            Event("b", 0, "will", 2, None, 4, "idle", 1),
            Event("b", 0, "hb", 3, 1, 6, "running", 0),
            Event("b", 0, "hb", 4, 3, 9, "running", 0),
        ],
        [2],
        [(0, False), (0, False)],
    )
)
@example(
    # The same with a message lost between: the will stands.
    case=(
        [
            Event("b", 0, "hb", 1, None, 2, "running", 0),
            Event("b", 0, "will", 2, None, 4, "idle", 1),
            Event("b", 0, "hb", 4, 3, 9, "running", 0),
        ],
        [],
        [(0, False)],
    )
)
def test_stored_timeline_equals_the_pure_engine_for_any_order_and_batching(
    engines: Engines, tmp_path: Path, case: tuple[list[Event], list[int], list[tuple[int, bool]]]
) -> None:
    events, cuts, turns = case
    prefix = f"w{next(_run)}"
    pipelines = [make_pipeline(engines, tmp_path, RECEIVED + 1) for _ in range(2)]
    pipelines[0].process(_births(prefix, events, interval=HB_INTERVAL, at=T0 - 1))
    received = [_message(prefix, e) for e in events]
    for (lo, hi), (turn, fail_first) in zip(
        itertools.pairwise([0, *cuts, len(received)]), turns, strict=False
    ):
        batch = received[lo:hi]
        if not batch:
            continue
        writer = pipelines[turn]
        if fail_first:
            _write_and_roll_back(writer, batch)
        writer.process(batch)
    _check(engines, prefix, received=received, events=events, stale=STALE, lo=T0 - 100, hi=T0 + 150)
    assert pipelines[0].metrics.dead_letters == pipelines[1].metrics.dead_letters == {}


def _write_and_roll_back(pipeline: Pipeline, batch: list[Received]) -> None:
    """The writer does all its work, then the transaction is rolled back (a failed commit)."""
    items = [pipeline._classify(r) for r in batch]
    with pipeline.engines.write.connect() as conn:
        transaction = conn.begin()
        pipeline.writer.write(conn, items, RECEIVED + 1)
        transaction.rollback()


def test_a_batch_that_fails_midway_leaves_no_trace(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline(engines, tmp_path, RECEIVED + 1)
    name, boot = "fails", "boot-fails"
    first = [
        h.birth(name, 0, T0 - 1, hb=HB_INTERVAL, boot=boot),
        h.hb(name, 1, T0, "running", interval=HB_INTERVAL, boot=boot),
    ]
    pipeline.process([Received(t, p, RECEIVED) for t, p in first])

    def broken_flush(*_args: object) -> None:
        raise OperationalError("UPDATE", {}, Exception("disk I/O error"))

    failing = h.hb(name, 2, T0 + 5, "idle", interval=HB_INTERVAL, boot=boot)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline.writer, "_flush", broken_flush)
        with pytest.raises(OperationalError):
            pipeline.process([Received(*failing, RECEIVED)])
    later = h.hb(name, 3, T0 + 6, "idle", interval=HB_INTERVAL, boot=boot)
    pipeline.process([Received(*later, RECEIVED)])

    with engines.read.connect() as conn:
        row = conn.execute(select(tables.instruments).where(tables.instruments.c.id == name))
        instrument = row.mappings().one()
        spans = conn.execute(
            select(tables.spans.c.state, tables.spans.c.start, tables.spans.c.end)
            .where(tables.spans.c.instrument_id == name)
            .order_by(tables.spans.c.start)
        ).all()
    # The failed batch left no trace: idle began at the later heartbeat.
    assert (instrument["state"], instrument["state_since"]) == ("idle", T0 + 6)
    assert [tuple(s) for s in spans] == [("running", T0, T0 + 6), ("idle", T0 + 6, T0 + 6 + STALE)]


DAY0 = 1_749_916_800.0  # 2025-06-15 00:00 Asia/Shanghai
HOURLY = HB_INTERVAL * 1200.0  # heartbeat interval here (80 min): fresh for 200 min


def _hourly(prefix: str, event: Event) -> Received:
    """``event`` on a scale of 20 minutes per second: two and a half days."""
    return _message(prefix, event, scale=1200.0, base=DAY0, received=DAY0 + 3 * 86400)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arrivals())
def test_daily_rollups_equal_live_figures_after_any_late_data(
    engines: Engines, tmp_path: Path, case: tuple[list[Event], list[int], list[tuple[int, bool]]]
) -> None:
    """Roll-ups of closed days are refreshed between batches, so late data must mark every
    day it changes; afterwards each day's roll-up equals the figures computed from the spans."""
    events, cuts, _turns = case
    prefix = f"r{next(_run)}"
    now = DAY0 + 4 * 86400
    pipeline = make_pipeline(engines, tmp_path, now)
    config = make_config(tmp_path)
    pipeline.process(
        _births(prefix, events, interval=HOURLY, at=DAY0 - 60, scale=1200.0, base=DAY0)
    )
    received = [_hourly(prefix, e) for e in events]
    for lo, hi in itertools.pairwise([0, *cuts, len(received)]):
        if received[lo:hi]:
            pipeline.process(received[lo:hi])
            refresh_rollups(engines, config, now)
    for instrument in ("a", "b"):
        with engines.read.connect() as conn:
            row = queries.get_instrument(conn, f"{prefix}{instrument}")
            assert row is not None
            cached = usage_by_day_cached(conn, row, config, DAY0, DAY0 + 3 * 86400, now)
            live = live_buckets(conn, row, config, [day for day, _ in cached], now)
        assert [figures for _, figures in cached] == live, f"{instrument}: {events} cut {cuts}"
