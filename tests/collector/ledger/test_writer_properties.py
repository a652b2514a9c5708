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
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.failures import LedgerUnavailable
from jishi.collector.ledger.fleet import usage_by_day_cached
from jishi.collector.ledger.live import live_buckets
from jishi.collector.ledger.rollup import refresh_rollups

from support import messages as h
from support.ledger import make_config, make_pipeline

T0 = 1_750_000_000.0
HB_INTERVAL = 4.0
STALE = 2.5 * HB_INTERVAL
NOW = T0 + 500.0  # after every drawn receive time
_run = itertools.count()


@dataclass(frozen=True)
class Event:
    """One message an agent sent, and when the collector received it (``received`` s after T0).

    ``kind``: birth; hb; state (open, since = ts - back); closed (since = ts - back - length,
    until = ts - back); will (received ``back`` s after ts). Boot ``b`` truly starts at 25 b s;
    its clock reads ``skew`` s off at the start, so ``boot_at`` may even lie before the previous
    boot's messages (a reset real-time clock)."""

    instrument: str
    boot: int
    kind: str
    seq: int
    prev: int | None  # the seq of the boot's previous hb/state message (the chain)
    ts: int  # seconds after T0, by the agent's clock
    state: str
    back: int
    length: int = 0
    lost: bool = False  # never delivered (a gap in the chain)
    received: float = 0.0
    skew: int = 0


@st.composite
def boot_events(draw: st.DrawFn, instrument: str, boot: int) -> list[Event]:
    skew = draw(st.sampled_from([0, 0, 0, -40, -12]))
    start = 25 * boot
    events = [Event(instrument, boot, "birth", 0, None, start + skew, "idle", 0, 0, False,
                    start + draw(st.integers(0, 2)), skew)]  # fmt: skip
    ts = start + skew
    prev: int | None = None
    for seq in range(1, draw(st.integers(0, 9)) + 1):
        ts += draw(st.integers(0, 6))  # the agent's clock: never backwards within a boot
        kind = draw(st.sampled_from(["hb", "hb", "hb", "state", "closed", "will"]))
        back = draw(st.integers(0, 3)) if kind == "will" else draw(st.integers(0, 12))
        # Live messages arrive within seconds; some wait in the outbox for a replay.
        delay = draw(st.sampled_from([0, 0, 1, 3, 40])) if kind != "will" else back
        true_ts = ts - skew
        event = Event(
            instrument, boot, kind, seq, prev if kind != "will" else None, ts,
            draw(st.sampled_from(["idle", "running", "off", "fault"])), back,
            draw(st.integers(1, 10)), draw(st.integers(0, 9)) == 0, true_ts + delay, skew,
        )  # fmt: skip
        if kind != "will":
            prev = seq
        events.append(event)
    return events


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Event], list[int], list[tuple[int, bool]]]:
    """Events in arrival order (receive order, with redeliveries), the batch cuts, and for each
    batch which writer takes it and whether its first attempt is rolled back."""
    events: list[Event] = []
    for instrument in ("a", "b"):
        for boot in range(draw(st.integers(1, 3))):
            events += [e for e in draw(boot_events(instrument, boot)) if not e.lost]
    again = draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    events += [
        replace(e, received=e.received + draw(st.integers(1, 60)), lost=False) for e in again
    ]
    ties = draw(st.permutations(range(len(events))))
    order = [e for _, _, e in sorted(zip([e.received for e in events], ties, events, strict=True))]
    cuts = sorted(draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=6)))
    turns = draw(
        st.lists(st.tuples(st.integers(0, 1), st.booleans()), min_size=len(cuts) + 1, max_size=7)
    )
    return order, cuts, turns


def _message(prefix: str, event: Event, scale: float = 1.0, base: float = T0) -> Received:
    name = f"{prefix}{event.instrument}"
    boot = f"boot-{name}-{event.boot}"
    boot_at = base + (25 * event.boot + event.skew) * scale
    ts = base + event.ts * scale
    received = base + event.received * scale
    v2 = {"schema": 2, "boot_at": boot_at}
    if event.kind == "birth":
        interval = HB_INTERVAL * scale
        body = h.birth(name, 0, ts, hb=interval, boot=boot, **v2)[1]
        return Received(h.topic(name, "status"), body, received)
    if event.kind == "will":
        body = h.payload("status", name, event.seq, ts, boot=boot, online=False, **v2)
        return Received(h.topic(name, "status"), body, received)
    chain = {} if event.prev is None else {"prev_seq": event.prev}
    if event.kind == "hb":
        body = h.payload(
            "hb", name, event.seq, ts, boot=boot, state=event.state, since=ts,
            interval_s=HB_INTERVAL * scale, **v2, **chain,
        )  # fmt: skip
        return Received(h.topic(name, "hb"), body, received)
    since = ts - event.back * scale
    extra = {}
    if event.kind == "closed":
        extra = {"until": since}
        since -= event.length * scale
    body = h.payload(
        "state", name, event.seq, ts, boot=boot, state=event.state, since=since,
        evidence="record", **extra, **v2, **chain,
    )  # fmt: skip
    return Received(h.topic(name, "state"), body, received)


def _registry(prefix: str, stale: float) -> list[dict[str, object]]:
    """Both instruments with a fixed stale_after, whatever order births and data come in."""
    return [{"id": f"{prefix}{i}", "stale_after_s": stale} for i in "ab"]


def _want_state(events: list[Event], instrument: str) -> str | None:
    """The state of the highest-ranked delivered message that is not a closed record: boots by
    first receipt, then seq (the agent's clock never goes back within a boot)."""
    first: dict[int, float] = {}
    for e in events:
        if e.instrument == instrument:
            first[e.boot] = min(e.received, first.get(e.boot, e.received))
    mine = [e for e in events if e.instrument == instrument and e.kind in ("hb", "state")]
    if not mine:
        return None
    return max(mine, key=lambda e: (first[e.boot], f"boot-{e.boot}", e.seq)).state


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


def ev(  # noqa: PLR0917 - a row of the tables below
    instrument: str, boot: int, kind: str, seq: int, prev: int | None, ts: int, state: str,
    back: int, length: int = 0, *, received: float, skew: int = 0,
) -> Event:  # fmt: skip
    return Event(instrument, boot, kind, seq, prev, ts, state, back, length, False, received, skew)


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
            ev("a", 0, "hb", 1, None, 5, "idle", 0, received=5),
            ev("a", 0, "hb", 2, 1, 9, "idle", 0, received=9),
            ev("a", 0, "state", 3, 2, 12, "running", 10, received=12),
        ],
        [],
        [(0, False)],
    )
)
@example(
    # A will, then the boot's replay continues the chain across it: withdrawn.
    case=(
        [
            ev("b", 0, "hb", 1, None, 2, "running", 0, received=2),
            ev("b", 0, "will", 2, None, 4, "idle", 1, received=5),
            ev("b", 0, "hb", 3, 1, 6, "running", 0, received=40),
            ev("b", 0, "hb", 4, 3, 9, "running", 0, received=41),
        ],
        [2],
        [(0, False), (0, False)],
    )
)
@example(
    # The same with a message lost between: the will stands.
    case=(
        [
            ev("b", 0, "hb", 1, None, 2, "running", 0, received=2),
            ev("b", 0, "will", 2, None, 4, "idle", 1, received=5),
            ev("b", 0, "hb", 4, 3, 9, "running", 0, received=40),
        ],
        [],
        [(0, False)],
    )
)
@example(
    # The second boot's clock was reset (40 s behind): it still ranks after the first, which
    # keeps everything it observed.
    case=(
        [
            ev("a", 0, "hb", 1, None, 10, "running", 0, received=10),
            ev("a", 0, "hb", 2, 1, 20, "running", 0, received=20),
            ev("a", 1, "birth", 0, None, -15, "idle", 0, received=25, skew=-40),
            ev("a", 1, "hb", 1, None, -14, "idle", 0, received=26, skew=-40),
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
    pipelines = [
        make_pipeline(engines, tmp_path, NOW, instruments=_registry(prefix, STALE))
        for _ in range(2)
    ]
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
    _check(engines, prefix, received=received, events=events, stale=STALE, lo=T0 - 100, hi=T0 + 250)
    assert pipelines[0].metrics.dead_letters == pipelines[1].metrics.dead_letters == {}


def _write_and_roll_back(pipeline: Pipeline, batch: list[Received]) -> None:
    """The writer does all its work, then the transaction is rolled back (a failed commit)."""
    items = [pipeline._classify(r) for r in batch]
    with pipeline.engines.write.connect() as conn:
        transaction = conn.begin()
        pipeline.writer.write(conn, items, NOW)
        transaction.rollback()


def test_a_batch_that_fails_midway_leaves_no_trace(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline(engines, tmp_path, NOW)
    name, boot = "fails", "boot-fails"
    first = [
        h.birth(name, 0, T0 - 1, hb=HB_INTERVAL, boot=boot),
        h.hb(name, 1, T0, "running", interval=HB_INTERVAL, boot=boot),
    ]
    pipeline.process([Received(t, p, T0 + 1) for t, p in first])

    def broken_flush(*_args: object) -> None:
        raise OperationalError("UPDATE", {}, Exception("disk I/O error"))

    failing = h.hb(name, 2, T0 + 5, "idle", interval=HB_INTERVAL, boot=boot)
    with monkeypatch.context() as patch:
        patch.setattr(pipeline.writer, "_flush", broken_flush)
        with pytest.raises(LedgerUnavailable):  # the database's failure: kept, retried
            pipeline.process([Received(*failing, T0 + 6)])
    later = h.hb(name, 3, T0 + 6, "idle", interval=HB_INTERVAL, boot=boot)
    pipeline.process([Received(*later, T0 + 7)])

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
    return _message(prefix, event, scale=1200.0, base=DAY0)


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
    registry = _registry(prefix, 2.5 * HOURLY)
    pipeline = make_pipeline(engines, tmp_path, now, instruments=registry)
    config = make_config(tmp_path, instruments=registry)
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
