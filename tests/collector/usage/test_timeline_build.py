"""build_timeline: contiguous intervals over exactly [start, end), overlaps resolved."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jishi.collector.usage.timeline import (
    STATES,
    UNKNOWN,
    Coverage,
    Interval,
    build_timeline,
)

from support.usage_cases import T0, coverage, rows

Row = tuple[float, float, str]

# fmt: off
CASES: list[tuple[str, list[Row], float, float, list[Row]]] = [
    ("no spans: all unknown", [], 0, 100, [(0, 100, "unknown")]),
    ("span inside", [(10, 20, "idle")], 0, 30,
     [(0, 10, "unknown"), (10, 20, "idle"), (20, 30, "unknown")]),
    ("period cuts both ends", [(-50, 150, "running")], 0, 100, [(0, 100, "running")]),
    ("span entirely before period", [(-50, -10, "running")], 0, 100, [(0, 100, "unknown")]),
    ("span ends exactly at start", [(-50, 0, "running")], 0, 100, [(0, 100, "unknown")]),
    ("adjacent equal states merge", [(0, 40, "idle"), (40, 100, "idle")], 0, 100,
     [(0, 100, "idle")]),
    ("gap is unknown", [(0, 40, "idle"), (60, 100, "idle")], 0, 100,
     [(0, 40, "idle"), (40, 60, "unknown"), (60, 100, "idle")]),
    ("later start wins, earlier resumes", [(0, 100, "idle"), (10, 20, "running")], 0, 100,
     [(0, 10, "idle"), (10, 20, "running"), (20, 100, "idle")]),
    ("later start wins over the tail", [(0, 50, "idle"), (30, 80, "running")], 0, 100,
     [(0, 30, "idle"), (30, 80, "running"), (80, 100, "unknown")]),
    ("input order does not matter for different starts",
     [(30, 80, "running"), (0, 50, "idle")], 0, 100,
     [(0, 30, "idle"), (30, 80, "running"), (80, 100, "unknown")]),
    ("equal starts: later in input wins", [(0, 50, "idle"), (0, 30, "fault")], 0, 100,
     [(0, 30, "fault"), (30, 50, "idle"), (50, 100, "unknown")]),
    ("nested three deep", [(0, 90, "off"), (10, 80, "idle"), (20, 30, "running")], 0, 100,
     [(0, 10, "off"), (10, 20, "idle"), (20, 30, "running"), (30, 80, "idle"),
      (80, 90, "off"), (90, 100, "unknown")]),
    ("zero-length spans are ignored", [(0, 100, "idle"), (50, 50, "unknown")], 0, 100,
     [(0, 100, "idle")]),
    ("explicit unknown span wins like any other", [(0, 100, "idle"), (40, 60, "unknown")],
     0, 100, [(0, 40, "idle"), (40, 60, "unknown"), (60, 100, "idle")]),
    ("overlap of equal states joins", [(0, 60, "idle"), (40, 100, "idle")], 0, 100,
     [(0, 100, "idle")]),
]
# fmt: on


@pytest.mark.parametrize(
    ("spans", "start", "end", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_build_timeline(spans: list[Row], start: float, end: float, expected: list[Row]) -> None:
    assert rows(build_timeline(coverage(spans), T0 + start, T0 + end)) == expected


def test_empty_period_gives_no_intervals() -> None:
    assert build_timeline(coverage([(0, 10, "idle")]), T0, T0) == []


@pytest.mark.parametrize(
    ("start", "end", "state"),
    [(10, 5, "idle"), (0, float("inf"), "idle"), (0, 10, "busy"), (float("nan"), 1, "idle")],
)
def test_bad_coverage_is_refused(start: float, end: float, state: str) -> None:
    with pytest.raises(ValueError):
        Coverage(start, end, state)


def test_bad_period_is_refused() -> None:
    with pytest.raises(ValueError):
        build_timeline([], 10, 5)


def _winner(spans: list[Coverage], t: float) -> str:
    """Reference: among spans covering t, the latest start wins; ties go to the later one."""
    best: tuple[float, int] | None = None
    state = UNKNOWN
    for index, span in enumerate(spans):
        if span.start <= t < span.end and (best is None or (span.start, index) >= best):
            best = (span.start, index)
            state = span.state
    return state


span_rows = st.lists(
    st.tuples(st.integers(-20, 120), st.integers(0, 60), st.sampled_from(STATES)).map(
        lambda r: Coverage(float(r[0]), float(r[0] + r[1]), r[2])
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(spans=span_rows, start=st.integers(-10, 50), length=st.integers(1, 100))
def test_timeline_matches_point_reference(spans: list[Coverage], start: int, length: int) -> None:
    end = start + length
    timeline = build_timeline(spans, float(start), float(end))
    assert timeline[0].start == start
    assert timeline[-1].end == end
    for before, after in itertools.pairwise(timeline):
        assert before.end == after.start  # contiguous
        assert before.state != after.state  # adjacent equal states merged
    for interval in timeline:
        assert interval.end > interval.start
        # Integer-bounded spans: every half-integer point is inside one piece of everything.
        t = interval.start + 0.5
        while t < interval.end:
            assert _winner(spans, t) == interval.state, (t, interval)
            t += 1.0


def test_interval_duration() -> None:
    assert Interval(T0, T0 + 90, "idle").duration_s == 90
