"""Hypothesis properties of compute_usage that must hold for any timeline, sessions and policy."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jishi.collector.usage.engine import (
    USER_TYPES,
    Session,
    UsageFigures,
    compute_usage,
    sum_figures,
    usage_by_calendar,
)
from jishi.collector.usage.policy import Policy
from jishi.collector.usage.timeline import STATES, Interval

from support.usage_cases import T0

EPS = 1e-6


@st.composite
def timelines(draw: st.DrawFn) -> list[Interval]:
    """Sorted, non-overlapping intervals, sometimes with holes, starting near T0."""
    t = T0 + draw(st.integers(-2000, 2000))
    out: list[Interval] = []
    for _ in range(draw(st.integers(0, 30))):
        t += draw(st.sampled_from([0, 0, 0, 37]))  # mostly contiguous, sometimes a hole
        length = draw(st.integers(1, 1500))
        out.append(Interval(t, t + length, draw(st.sampled_from(STATES))))
        t += length
    return out


session_lists = st.lists(
    st.builds(
        lambda a, n, kind: Session(T0 + a, T0 + a + n, user_type=kind),
        st.integers(-3000, 30000),
        st.integers(0, 5000),
        st.sampled_from([*USER_TYPES, None]),
    ),
    max_size=8,
)
policies = st.builds(
    Policy,
    merge_gap_s=st.sampled_from([0.0, 300.0, 600.0, 1200.0]),
    prep_window_s=st.sampled_from([0.0, 120.0, 900.0]),
    post_window_s=st.sampled_from([0.0, 60.0, 600.0]),
    quota_h_per_year=st.sampled_from([0.0, 800.0, 1400.0]),
)


def _check(figures: UsageFigures, period: float) -> None:
    states = (
        figures.running_s
        + figures.idle_s
        + figures.off_s
        + figures.fault_s
        + figures.maintenance_s
        + figures.unknown_s
    )
    assert abs(states - period) < EPS
    assert min(figures.running_s, figures.idle_s, figures.unknown_s) >= 0
    assert figures.running_s - EPS <= figures.effective_s
    assert figures.effective_s <= figures.running_s + figures.idle_s + EPS
    assert figures.service_s <= figures.effective_s + EPS
    assert figures.external_service_s <= figures.service_s + EPS
    assert 0.0 <= figures.completeness <= 1.0
    share = figures.share_rate
    assert share is None or -EPS <= share <= 1 + EPS


@settings(max_examples=400, deadline=None)
@given(
    timeline=timelines(),
    session_rows=session_lists,
    policy=policies,
    offset=st.integers(-3000, 20000),
    length=st.integers(1, 40000),
)
def test_usage_invariants(
    timeline: list[Interval],
    session_rows: list[Session],
    policy: Policy,
    offset: int,
    length: int,
) -> None:
    start = T0 + offset
    figures = compute_usage(timeline, session_rows, policy, start, start + length)
    _check(figures, length)


@settings(max_examples=100, deadline=None)
@given(timeline=timelines(), session_rows=session_lists, policy=policies)
def test_days_sum_to_the_whole(
    timeline: list[Interval], session_rows: list[Session], policy: Policy
) -> None:
    start, end = T0 - 30000, T0 + 120000  # crosses two Shanghai midnights
    whole = compute_usage(timeline, session_rows, policy, start, end)
    days = usage_by_calendar(timeline, session_rows, policy, start, end, by="day")
    assert len(days) == 3
    total = sum_figures(f for _, f in days)
    for name in (
        "running_s",
        "idle_s",
        "unknown_s",
        "effective_s",
        "service_s",
        "external_service_s",
        "quota_s",
    ):
        assert abs(getattr(total, name) - getattr(whole, name)) < EPS, name
    for _, figures in days:
        _check(figures, figures.period_s)


@settings(max_examples=100, deadline=None)
@given(timeline=timelines(), session_rows=session_lists, policy=policies)
def test_more_sessions_never_lower_effective(
    timeline: list[Interval], session_rows: list[Session], policy: Policy
) -> None:
    start, end = T0 - 5000, T0 + 50000
    fewer = compute_usage(timeline, session_rows[:-1], policy, start, end)
    more = compute_usage(timeline, session_rows, policy, start, end)
    assert more.effective_s >= fewer.effective_s - EPS
    assert more.service_s >= fewer.service_s - EPS
