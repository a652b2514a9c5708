"""The worked example of docs/usage-metrics.md, checked number by number."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jishi.collector.usage.engine import Session, UsageFigures, compute_usage
from jishi.collector.usage.policy import Policy
from jishi.collector.usage.timeline import Coverage, build_timeline

from support.paths import DOCS

DOC = DOCS / "usage-metrics.md"
ZONE = ZoneInfo("Asia/Shanghai")


def at(hhmm: str) -> float:
    """A local time on 2025-03-03 (Asia/Shanghai); "24:00" is the next midnight."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime(2025, 3, 3, tzinfo=ZONE).timestamp() + hours * 3600 + minutes * 60


# The day as the ledger stored it (the 15:00-15:20 outage has no coverage at all).
SPANS = [
    ("00:00", "08:00", "off"),
    ("08:00", "08:30", "idle"),
    ("08:30", "10:00", "running"),
    ("10:00", "10:05", "idle"),
    ("10:05", "12:00", "running"),
    ("12:00", "13:30", "idle"),
    ("13:30", "15:00", "running"),
    ("15:20", "16:00", "idle"),
    ("16:00", "17:00", "fault"),
    ("17:00", "24:00", "off"),
]
SESSIONS = [
    ("08:00", "10:00", "internal"),  # A
    ("10:00", "12:30", "external"),  # B
    ("13:30", "15:00", "staff"),  # C
    ("15:00", "16:00", "external"),  # D
]

EXPECTED_MINUTES = {
    "running_s": 295,
    "idle_s": 165,
    "off_s": 900,
    "fault_s": 60,
    "maintenance_s": 0,
    "unknown_s": 20,
    "effective_s": 400,
    "service_s": 310,
    "external_service_s": 190,
}


def _figures(sessions: bool = True) -> UsageFigures:
    spans = [Coverage(at(a), at(b), state) for a, b, state in SPANS]
    timeline = build_timeline(spans, at("00:00") - 3600, at("24:00") + 3600)
    rows = [Session(at(a), at(b), user_type=kind) for a, b, kind in SESSIONS] if sessions else []
    return compute_usage(timeline, rows, Policy(), at("00:00"), at("24:00"))


def test_worked_example_figures() -> None:
    figures = _figures()
    assert {name: getattr(figures, name) / 60 for name in EXPECTED_MINUTES} == EXPECTED_MINUTES
    assert figures.completeness == pytest.approx(1 - 20 / 1440)
    assert figures.quota_s == pytest.approx(1400 * 3600 / 365)
    assert figures.utilization == pytest.approx(400 / 60 * 365 / 1400)
    assert figures.share_rate == pytest.approx(190 / 400)


def test_worked_example_without_sessions() -> None:
    figures = _figures(sessions=False)
    assert figures.effective_s / 60 == 300  # running plus the 5-minute gap only
    assert figures.service_s == 0
    assert figures.share_rate == 0


def test_doc_prints_the_same_numbers() -> None:
    text = DOC.read_text(encoding="utf-8")
    figures = _figures().as_dict()
    for name in (
        "running_h",
        "idle_h",
        "effective_h",
        "service_h",
        "external_service_h",
        "unknown_h",
        "quota_h",
    ):
        shown = f"{figures[name]:.4f}"
        assert f"| `{name}` | {shown} |" in text, (name, shown)
    for name in ("completeness", "utilization", "share_rate"):
        value = figures[name]
        assert value is not None
        assert f"| `{name}` | {value:.4f} |" in text, (name, value)
