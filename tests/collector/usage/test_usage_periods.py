"""Day, month and year boundaries in the site time zone; per-day figures; quota proration."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jishi.collector.usage.engine import (
    FIGURE_NAMES,
    compute_usage,
    sum_figures,
    usage_by_calendar,
)
from jishi.collector.usage.periods import (
    prorated_quota_s,
    split_by_day,
    split_by_month,
    split_by_year,
    year_length_s,
)
from jishi.collector.usage.policy import Policy

from support.usage_cases import HOUR, T0, intervals, sessions

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 24 * HOUR


def local(year: int, month: int, day: int, hour: int = 0, zone: str = "Asia/Shanghai") -> float:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(zone)).timestamp()


def test_shanghai_midnight_is_1600_utc() -> None:
    assert datetime.fromisoformat("2025-03-02T16:00:00+00:00").timestamp() == T0


@pytest.mark.parametrize(
    ("start", "end", "zone", "expected"),
    [
        (
            local(2025, 3, 1, 10),
            local(2025, 3, 3, 2),
            "Asia/Shanghai",
            [("2025-03-01", 14 * HOUR), ("2025-03-02", DAY), ("2025-03-03", 2 * HOUR)],
        ),
        (local(2025, 3, 1), local(2025, 3, 2), "Asia/Shanghai", [("2025-03-01", DAY)]),
        # 16:00 UTC is the Shanghai day boundary: the UTC date is not the local date.
        (
            datetime.fromisoformat("2025-03-02T15:00:00+00:00").timestamp(),
            datetime.fromisoformat("2025-03-02T17:00:00+00:00").timestamp(),
            "Asia/Shanghai",
            [("2025-03-02", HOUR), ("2025-03-03", HOUR)],
        ),
        # Elsewhere a daylight-saving day is 23 h long.
        (
            local(2025, 3, 30, zone="Europe/Berlin"),
            local(2025, 3, 31, 1, zone="Europe/Berlin"),
            "Europe/Berlin",
            [("2025-03-30", 23 * HOUR), ("2025-03-31", HOUR)],
        ),
    ],
    ids=["partial ends", "one whole day", "utc date differs", "dst day"],
)
def test_split_by_day(
    start: float, end: float, zone: str, expected: list[tuple[str, float]]
) -> None:
    buckets = split_by_day(start, end, zone)
    assert [(b.key, b.duration_s) for b in buckets] == expected
    assert buckets[0].start == start
    assert buckets[-1].end == end


def test_split_by_month_and_year() -> None:
    months = split_by_month(local(2024, 1, 15), local(2024, 3, 10), SHANGHAI)
    assert [(b.key, b.duration_s / DAY) for b in months] == [
        ("2024-01", 17),
        ("2024-02", 29),
        ("2024-03", 9),
    ]
    years = split_by_year(local(2024, 12, 31), local(2025, 1, 2), SHANGHAI)
    assert [(b.key, b.duration_s / DAY) for b in years] == [("2024", 1), ("2025", 1)]
    assert split_by_day(T0, T0, SHANGHAI) == []
    with pytest.raises(ValueError):
        split_by_day(T0 + 1, T0, SHANGHAI)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (local(2024, 1, 1), local(2025, 1, 1), 1400.0),  # leap year: still the whole quota
        (local(2025, 1, 1), local(2026, 1, 1), 1400.0),
        (local(2024, 12, 31), local(2025, 1, 1), 1400 / 366),
        (local(2025, 6, 1), local(2025, 6, 2), 1400 / 365),
        (local(2024, 12, 31), local(2025, 1, 2), 1400 / 366 + 1400 / 365),
        (local(2024, 7, 1), local(2026, 7, 1), 1400 * (184 / 366 + 1 + 181 / 365)),
    ],
    ids=["2024", "2025", "last day of 2024", "a day of 2025", "across new year", "two years"],
)
def test_prorated_quota(start: float, end: float, hours: float) -> None:
    assert prorated_quota_s(1400, start, end, SHANGHAI) == pytest.approx(hours * HOUR)


def test_year_length() -> None:
    assert year_length_s(2024, SHANGHAI) == 366 * DAY
    assert year_length_s(2025, "Asia/Shanghai") == 365 * DAY


def test_running_across_local_midnight_splits_between_days() -> None:
    # 22:00 to 02:00 local: two hours each side of the Shanghai midnight.
    timeline = intervals([(-2 * HOUR, 2 * HOUR, "running")])
    days = usage_by_calendar(timeline, [], Policy(), T0 - DAY, T0 + DAY, by="day")
    assert [(b.key, f.running_s, f.unknown_s) for b, f in days] == [
        ("2025-03-02", 2 * HOUR, 22 * HOUR),
        ("2025-03-03", 2 * HOUR, 22 * HOUR),
    ]


def test_gap_across_midnight_is_judged_whole_in_daily_figures() -> None:
    # A 6-minute idle gap 23:57-00:03 between runs: both halves are effective.
    timeline = intervals(
        [(-HOUR, -3 * 60, "running"), (-3 * 60, 3 * 60, "idle"), (3 * 60, HOUR, "running")]
    )
    days = usage_by_calendar(timeline, [], Policy(), T0 - DAY, T0 + DAY, by="day")
    assert [f.effective_s for _, f in days] == [HOUR, HOUR]


def test_days_and_months_add_up_to_the_period() -> None:
    start, end = local(2025, 1, 20, 13), local(2025, 3, 4, 7)
    timeline = intervals(
        [
            (k * 5000.0 - (T0 - start), (k + 1) * 5000.0 - (T0 - start), state)
            for k, state in enumerate(["running", "idle", "off", "idle", "running", "fault"] * 130)
        ]
    )
    session_rows = sessions(
        [
            (k * 9000 - (T0 - start), k * 9000 + 4000 - (T0 - start), kind)
            for k, kind in enumerate(["internal", "external", "staff"] * 140)
        ]
    )
    policy = Policy(prep_window_s=600, post_window_s=300, merge_gap_s=5001)
    whole = compute_usage(timeline, session_rows, policy, start, end)
    by_day = usage_by_calendar(timeline, session_rows, policy, start, end, by="day")
    by_month = usage_by_calendar(timeline, session_rows, policy, start, end, by="month")
    assert len(by_day) == 44
    assert [b.key for b, _ in by_month] == ["2025-01", "2025-02", "2025-03"]
    assert whole.effective_s > whole.running_s > 0
    assert whole.external_service_s > 0
    for parts in (by_day, by_month):
        total = sum_figures(f for _, f in parts)
        for name in FIGURE_NAMES:
            assert getattr(total, name) == pytest.approx(getattr(whole, name)), name
