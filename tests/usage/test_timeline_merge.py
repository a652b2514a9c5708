"""merge_observation / record_offline: runs extend, truncate, split; wills stop stale runs."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jishi.collector.timeline import (
    UNKNOWN,
    Coverage,
    build_timeline,
    merge_observation,
    observe,
    record_offline,
    spans_from_observations,
)
from usage_cases import T0, rows

Row = tuple[float, float, str]
OFFLINE = "offline"  # marker in the tables below: a last will received at ts


def _feed(observations: list[tuple[float, str, float]]) -> list[Coverage]:
    spans: list[Coverage] = []
    for ts, state, stale in observations:
        if state == OFFLINE:
            spans = record_offline(spans, T0 + ts)
        else:
            spans = merge_observation(spans, T0 + ts, state, stale)
    return spans


def _hb(state: str, *times: float, stale: float = 75.0) -> list[tuple[float, str, float]]:
    return [(t, state, stale) for t in times]


# fmt: off
CASES: list[tuple[str, list[tuple[float, str, float]], list[Row]]] = [
    ("heartbeats of one state extend one run", _hb("idle", 0, 30, 60), [(0, 135, "idle")]),
    ("a heartbeat exactly at the run's end continues it", _hb("idle", 0, 75),
     [(0, 150, "idle")]),
    ("a heartbeat after expiry starts a new run", _hb("idle", 0, 100),
     [(0, 75, "idle"), (100, 175, "idle")]),
    ("a state change truncates the previous run", _hb("idle", 0) + _hb("running", 30),
     [(0, 30, "idle"), (30, 105, "running")]),
    ("same ts, different state: the last merged wins", _hb("idle", 0) + _hb("running", 0),
     [(0, 75, "running")]),
    ("a newer heartbeat with a shorter stale_after shortens the run",
     _hb("idle", 0) + _hb("idle", 10, stale=20), [(0, 30, "idle")]),
    ("an older heartbeat never shortens the run", _hb("idle", 0, 60) + _hb("idle", 10, stale=5),
     [(0, 135, "idle")]),
    ("a will makes the instrument unknown from its receive time",
     [*_hb("idle", 0, 30), (50, OFFLINE, 0)], [(0, 50, "idle"), (50, 50, "unknown")]),
    ("a heartbeat arriving after the will cannot extend past it",
     [*_hb("idle", 0, 30), (50, OFFLINE, 0), *_hb("idle", 40)],
     [(0, 50, "idle"), (50, 50, "unknown")]),
    ("an outage replay fills the unknown stretch, live data first",
     [*_hb("idle", 0, 30), (50, OFFLINE, 0), *_hb("running", 500), *_hb("idle", 100, 130)],
     [(0, 50, "idle"), (50, 50, "unknown"), (100, 205, "idle"), (500, 575, "running")]),
    ("a replay reaching the live data is cut at its start",
     [(50, OFFLINE, 0), *_hb("running", 200), *_hb("idle", 100, 130, 160)],
     [(50, 50, "unknown"), (100, 200, "idle"), (200, 275, "running")]),
    ("a replay of the live state joins the live run",
     [(50, OFFLINE, 0), *_hb("running", 200), *_hb("running", 100, 130, 160)],
     [(50, 50, "unknown"), (100, 275, "running")]),
    ("a late point inside a run of another state splits it",
     _hb("idle", *range(0, 301, 30)) + _hb("running", 100),
     [(0, 100, "idle"), (100, 175, "running"), (175, 375, "idle")]),
    ("a late point near the run's last observation holds until it",
     _hb("idle", *range(0, 301, 30)) + _hb("running", 280),
     [(0, 280, "idle"), (280, 300, "running"), (300, 375, "idle")]),
    ("a late point at a run's start takes it over until the run resumes",
     _hb("idle", *range(0, 301, 30)) + _hb("running", 0),
     [(0, 75, "running"), (75, 375, "idle")]),
    ("a late heartbeat in a gap is cut at the next run",
     _hb("idle", 0) + _hb("running", 100) + _hb("idle", 60),
     [(0, 100, "idle"), (100, 175, "running")]),
    ("a late point joins the next run of its state",
     _hb("idle", 0) + _hb("running", 100) + _hb("running", 80),
     [(0, 75, "idle"), (80, 175, "running")]),
    ("a point before everything joins the run it reaches", _hb("idle", 100) + _hb("idle", 50),
     [(50, 175, "idle")]),
    ("a late same-state heartbeat inside a run changes nothing", _hb("idle", 0, 30, 60, 10),
     [(0, 135, "idle")]),
]
# fmt: on


@pytest.mark.parametrize(
    ("observations", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_merge_observation(
    observations: list[tuple[float, str, float]], expected: list[Row]
) -> None:
    assert rows(_feed(observations)) == expected


def test_replay_makes_outage_known_in_the_timeline() -> None:
    spans = _feed(
        [*_hb("idle", 0, 30), (50, OFFLINE, 0), *_hb("running", 500), *_hb("idle", 100, 130)]
    )
    timeline = build_timeline(spans, T0, T0 + 600)
    assert rows(timeline) == [
        (0, 50, "idle"),
        (50, 100, "unknown"),
        (100, 205, "idle"),
        (205, 500, "unknown"),
        (500, 575, "running"),
        (575, 600, "unknown"),
    ]


def test_only_the_neighbours_change() -> None:
    spans = spans_from_observations(
        [(T0 + t, "idle" if (t // 300) % 2 else "running", 75.0) for t in range(0, 3000, 30)]
    )
    merged = merge_observation(spans, T0 + 1510, "fault", 75.0)
    changed = [i for i, (a, b) in enumerate(zip(spans, merged, strict=False)) if a != b]
    assert changed
    assert min(changed) >= 4  # the head is untouched ...
    assert merged[-3:] == spans[-3:]  # ... and so is the tail
    # A ledger holding only the neighbours gets the same replacement.
    i = max(k for k, s in enumerate(spans) if s.start <= T0 + 1510)
    local = observe(spans[i], spans[i + 1], T0 + 1510, "fault", 75.0)
    assert merged == spans[:i] + local + spans[i + 2 :]


@pytest.mark.parametrize(
    ("prev", "nxt", "ts", "stale"),
    [
        (Coverage(10, 20, "idle"), None, 5.0, 75.0),
        (None, Coverage(10, 20, "idle"), 10.0, 75.0),
        (None, None, math.nan, 75.0),
        (None, None, 0.0, -1.0),
    ],
)
def test_observe_refuses_bad_arguments(
    prev: Coverage | None, nxt: Coverage | None, ts: float, stale: float
) -> None:
    with pytest.raises(ValueError):
        observe(prev, nxt, ts, "idle", stale)


def _reference_state(observations: list[tuple[float, str, float]], t: float) -> str:
    """Latest observation at or before t wins (arrival order breaks ties) until it expires."""
    latest: tuple[float, str, float] | None = None
    for ts, state, stale in observations:
        if ts <= t and (latest is None or ts >= latest[0]):
            latest = (ts, state, stale)
    if latest is None or t >= latest[0] + latest[2]:
        return UNKNOWN
    return latest[1]


in_order = st.lists(
    st.tuples(
        st.integers(0, 15),
        st.sampled_from(["idle", "running", "off", "fault", OFFLINE]),
        st.sampled_from([5, 10, 25]),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(steps=in_order)
def test_in_order_feed_matches_latest_observation_reference(
    steps: list[tuple[int, str, int]],
) -> None:
    observations: list[tuple[float, str, float]] = []
    t = 0
    for delta, state, stale in steps:
        t += delta
        if state == OFFLINE:
            observations.append((float(t), UNKNOWN, 0.0))
        else:
            observations.append((float(t), state, float(stale)))
    spans = spans_from_observations(observations)
    for before, after in itertools.pairwise(spans):
        assert before.end <= after.start  # normalized: sorted, no overlap
    end = float(t + 30)
    timeline = build_timeline(spans, -1.0, end)
    for interval in timeline:
        probe = interval.start + 0.5
        while probe < interval.end:
            assert _reference_state(observations, probe) == interval.state, (probe, spans)
            probe += 1.0
