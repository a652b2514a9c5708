"""compute_usage: one table row per rule and edge of the DESIGN usage table."""

from __future__ import annotations

from typing import Any

import pytest

from jishi.collector.usage.engine import Session, UsageFigures, compute_usage, sum_figures
from jishi.collector.usage.policy import Policy
from jishi.collector.usage.timeline import Interval

from support.usage_cases import HOUR, T0, intervals, sessions

Row = tuple[float, float, str]
SessionRow = tuple[float, float, str | None]

# (id, timeline, sessions, policy overrides, period, expected figures)
# fmt: off
CASES: list[tuple[str, list[Row], list[SessionRow], dict[str, float], Row | tuple[float, float],
                  dict[str, Any]]] = [
    ("all running", [(0, 1000, "running")], [], {}, (0, 1000),
     {"running_s": 1000, "effective_s": 1000, "unknown_s": 0, "completeness": 1.0}),
    ("period cuts intervals at both ends",
     [(-100, 50, "running"), (50, 200, "idle")], [], {}, (0, 100),
     {"running_s": 50, "idle_s": 50, "effective_s": 50, "unknown_s": 0}),
    ("every state is counted",
     [(0, 10, "off"), (10, 30, "idle"), (30, 60, "running"), (60, 100, "fault"),
      (100, 150, "maintenance"), (150, 210, "unknown")], [], {}, (0, 210),
     {"off_s": 10, "idle_s": 20, "running_s": 30, "fault_s": 40, "maintenance_s": 50,
      "unknown_s": 60, "effective_s": 30}),
    ("idle gap shorter than merge_gap is effective",
     [(0, 100, "running"), (100, 699, "idle"), (699, 800, "running")], [], {}, (0, 800),
     {"effective_s": 800, "idle_s": 599}),
    ("idle gap exactly merge_gap is not",
     [(0, 100, "running"), (100, 700, "idle"), (700, 800, "running")], [], {}, (0, 800),
     {"effective_s": 200, "idle_s": 600}),
    ("merge_gap is a policy setting",
     [(0, 100, "running"), (100, 700, "idle"), (700, 800, "running")], [],
     {"merge_gap_s": 601}, (0, 800), {"effective_s": 800}),
    ("unadjusted adjacent idle pieces form one gap",
     [(0, 100, "running"), (100, 300, "idle"), (300, 500, "idle"), (500, 600, "running")],
     [], {}, (0, 600), {"effective_s": 600}),
    ("idle gap with unknown in between is not merged",
     [(0, 100, "running"), (100, 200, "idle"), (200, 210, "unknown"), (210, 300, "idle"),
      (300, 400, "running")], [], {}, (0, 400), {"effective_s": 200, "unknown_s": 10}),
    ("a hole in the timeline is unknown and breaks the gap",
     [(0, 100, "running"), (100, 200, "idle"), (210, 300, "idle"), (300, 400, "running")],
     [], {}, (0, 400), {"effective_s": 200, "unknown_s": 10}),
    ("a hole after the idle breaks the gap",
     [(0, 100, "running"), (100, 200, "idle"), (210, 300, "running")],
     [], {}, (0, 300), {"effective_s": 190, "unknown_s": 10}),
    ("a hole before the idle breaks the gap",
     [(0, 100, "running"), (110, 200, "idle"), (200, 300, "running")],
     [], {}, (0, 300), {"effective_s": 200, "unknown_s": 10}),
    ("idle gap bounded by off is not merged",
     [(0, 100, "off"), (100, 200, "idle"), (200, 300, "running")], [], {}, (0, 300),
     {"effective_s": 100}),
    ("idle at the edge of the timeline is not a gap",
     [(0, 100, "idle"), (100, 200, "running"), (200, 300, "idle")], [], {}, (0, 300),
     {"effective_s": 100}),
    ("gap crossing the period start is judged by its full length (short)",
     [(-1000, -100, "running"), (-100, 400, "idle"), (400, 1000, "running")], [], {},
     (0, 1000), {"effective_s": 1000, "idle_s": 400, "running_s": 600}),
    ("gap crossing the period start is judged by its full length (long)",
     [(-1000, -500, "running"), (-500, 200, "idle"), (200, 1000, "running")], [], {},
     (0, 1000), {"effective_s": 800, "idle_s": 200}),
    ("gap crossing the period end is judged by its full length",
     [(0, 900, "running"), (900, 1300, "idle"), (1300, 2000, "running")], [], {},
     (0, 1000), {"effective_s": 1000}),
    ("idle inside a session is effective",
     [(0, 1000, "idle")], [(100, 400, "internal")], {}, (0, 1000),
     {"effective_s": 300, "service_s": 300, "external_service_s": 0, "share_rate": 0.0}),
    ("sessions over unknown time add nothing",
     [(0, 1000, "unknown")], [(0, 1000, "external")], {}, (0, 1000),
     {"effective_s": 0, "service_s": 0, "unknown_s": 1000, "completeness": 0.0,
      "share_rate": None}),
    ("sessions over a hole add nothing", [], [(0, 1000, "external")], {}, (0, 1000),
     {"effective_s": 0, "unknown_s": 1000}),
    ("sessions over off, fault and maintenance add nothing",
     [(0, 100, "off"), (100, 200, "fault"), (200, 300, "maintenance")],
     [(0, 300, "external")], {}, (0, 300), {"effective_s": 0, "service_s": 0}),
    ("overlapping sessions count once",
     [(0, 1000, "idle")], [(100, 500, "internal"), (300, 700, "internal")], {}, (0, 1000),
     {"effective_s": 600, "service_s": 600}),
    ("internal and external sessions overlapping",
     [(0, 1000, "running")], [(0, 600, "internal"), (400, 1000, "external")], {}, (0, 1000),
     {"effective_s": 1000, "service_s": 1000, "external_service_s": 600, "share_rate": 0.6}),
    ("staff sessions are not service",
     [(0, 1000, "running")], [(0, 1000, "staff")], {}, (0, 1000),
     {"effective_s": 1000, "service_s": 0, "external_service_s": 0, "share_rate": 0.0}),
    ("staff sessions still make idle effective",
     [(0, 1000, "idle")], [(0, 500, "staff")], {}, (0, 1000),
     {"effective_s": 500, "service_s": 0}),
    ("unclassified sessions make idle effective but are not service",
     [(0, 1000, "idle")], [(0, 500, None)], {}, (0, 1000), {"effective_s": 500, "service_s": 0}),
    ("external inside staff session is external service",
     [(0, 1000, "running")], [(0, 1000, "staff"), (200, 300, "external")], {}, (0, 1000),
     {"service_s": 100, "external_service_s": 100}),
    ("service outside the period is clipped",
     [(-500, 500, "running")], [(-500, 200, "external")], {}, (0, 500),
     {"effective_s": 500, "service_s": 200, "external_service_s": 200}),
    ("running outside sessions is effective, not service",
     [(0, 1000, "running")], [(0, 100, "internal")], {}, (0, 1000),
     {"effective_s": 1000, "service_s": 100}),
    ("prep and post windows",
     [(0, 1000, "idle"), (1000, 2000, "running"), (2000, 3000, "idle")], [],
     {"prep_window_s": 300, "post_window_s": 200}, (0, 3000), {"effective_s": 1500}),
    ("prep window is time before the run, even across an off stretch",
     [(0, 700, "idle"), (700, 1000, "off"), (1000, 2000, "running")], [],
     {"prep_window_s": 500}, (0, 2000), {"effective_s": 1200}),
    ("prep window never counts off or unknown",
     [(0, 900, "unknown"), (900, 1000, "off"), (1000, 2000, "running")], [],
     {"prep_window_s": 500}, (0, 2000), {"effective_s": 1000}),
    ("post window from a run before the period",
     [(-100, 0, "running"), (0, 1000, "idle")], [], {"post_window_s": 300}, (0, 1000),
     {"effective_s": 300, "running_s": 0}),
    ("overlapping rules never count twice",
     [(0, 100, "running"), (100, 400, "idle"), (400, 500, "running"), (500, 900, "idle")],
     [(0, 700, "internal")], {"prep_window_s": 200, "post_window_s": 200}, (0, 900),
     {"effective_s": 700, "service_s": 700, "idle_s": 700}),
    ("no data at all", [], [], {}, (0, 86400),
     {"unknown_s": 86400, "completeness": 0.0, "effective_s": 0, "utilization": 0.0,
      "share_rate": None}),
]
# fmt: on


@pytest.mark.parametrize(
    ("timeline", "session_rows", "overrides", "period", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_usage_rule(
    timeline: list[Row],
    session_rows: list[SessionRow],
    overrides: dict[str, float],
    period: tuple[float, float],
    expected: dict[str, Any],
) -> None:
    figures = compute_usage(
        intervals(timeline),
        sessions(session_rows),
        Policy(**overrides),  # type: ignore[arg-type]  # overrides are Policy fields by name
        T0 + period[0],
        T0 + period[1],
    )
    actual = {name: getattr(figures, name) for name in expected}
    assert actual == expected
    states = ("running_s", "idle_s", "off_s", "fault_s", "maintenance_s", "unknown_s")
    assert sum(getattr(figures, name) for name in states) == period[1] - period[0]


def test_quota_prorated_for_a_day_of_2025() -> None:
    figures = compute_usage(intervals([(0, 4 * HOUR, "running")]), [], Policy(), T0, T0 + 24 * HOUR)
    assert figures.quota_s == pytest.approx(1400 * HOUR / 365)
    assert figures.utilization == pytest.approx(4 * 365 / 1400)


def test_specialised_quota() -> None:
    policy = Policy.for_category("specialised", merge_gap_s=300)
    assert (policy.quota_h_per_year, policy.merge_gap_s) == (800, 300)
    figures = compute_usage([], [], policy, T0, T0 + 24 * HOUR)
    assert figures.quota_s == pytest.approx(800 * HOUR / 365)


def test_zero_quota_has_no_utilization() -> None:
    figures = compute_usage([], [], Policy(quota_h_per_year=0), T0, T0 + HOUR)
    assert figures.utilization is None


@pytest.mark.parametrize(
    ("timeline", "start", "end"),
    [
        ([Interval(T0, T0 + 10, "idle"), Interval(T0 + 5, T0 + 20, "idle")], T0, T0 + 20),
        ([Interval(T0 + 10, T0 + 20, "idle"), Interval(T0, T0 + 5, "idle")], T0, T0 + 20),
        ([], T0 + 10, T0 + 10),
        ([], T0 + 10, T0),
    ],
    ids=["overlapping", "unsorted", "empty period", "reversed period"],
)
def test_bad_input_is_refused(timeline: list[Interval], start: float, end: float) -> None:
    with pytest.raises(ValueError):
        compute_usage(timeline, [], Policy(), start, end)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Session(T0 + 10, T0, user_type="internal"),
        lambda: Session(T0, T0 + 10, user_type="visitor"),
        lambda: Policy(merge_gap_s=-1),
        lambda: Policy(prep_window_s=float("inf")),
        lambda: Policy(timezone="Mars/Olympus_Mons"),
        lambda: Policy.for_category("exotic"),
    ],
    ids=["session reversed", "user type", "negative gap", "infinite window", "zone", "category"],
)
def test_bad_sessions_and_policies_are_refused(make: Any) -> None:
    with pytest.raises((ValueError, KeyError)):
        make()


def test_figures_sum_and_dict() -> None:
    a = UsageFigures(
        period_s=100,
        running_s=50,
        unknown_s=50,
        effective_s=50,
        external_service_s=25,
        service_s=25,
        quota_s=200,
    )
    b = UsageFigures(period_s=100, idle_s=100, quota_s=200)
    total = sum_figures([a, b])
    assert total == a + b
    assert (total.period_s, total.running_s, total.idle_s) == (200, 50, 100)
    assert total.completeness == 0.75
    assert total.share_rate == 0.5
    as_dict = total.as_dict()
    assert as_dict["effective_s"] == 50
    assert as_dict["effective_h"] == round(50 / 3600, 6)
    assert as_dict["utilization"] == 0.125
    assert sum_figures([]) == UsageFigures()
    assert UsageFigures().as_dict()["share_rate"] is None
