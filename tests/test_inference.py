"""State inference, table-tested: thresholds with hysteresis, discrete maps, events, precedence,
minimum dwell, and the raw values that decided each state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jishi.agent.inference import DiscreteRule, Rules, StateInferrer, ThresholdRule
from jishi.agent.wire import InstrumentState as S
from jishi.drivers.base import Reading, StateEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POWER = ThresholdRule("power_w", off_below=5, running_above=300, hysteresis=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(rules: Rules, readings: list[Reading]) -> list[tuple[str, datetime]]:
    inferrer = StateInferrer(rules)
    return [(t.state.value, t.since) for r in readings for t in inferrer.feed(r)]


@pytest.mark.parametrize(
    ("value", "current", "expected"),
    [
        (0.0, None, S.OFF),
        (4.9, None, S.OFF),
        (5.0, None, S.IDLE),
        (299.0, None, S.IDLE),
        (300.0, None, S.RUNNING),
        (305.0, S.IDLE, S.IDLE),  # not clearly above 300 + 10
        (310.0, S.IDLE, S.RUNNING),
        (295.0, S.RUNNING, S.IDLE),  # the band lies above a boundary: falling is immediate
        (289.0, S.RUNNING, S.IDLE),
        (1.0, S.RUNNING, S.OFF),
        (12.0, S.OFF, S.OFF),  # not clearly above 5 + 10
        (15.0, S.OFF, S.IDLE),
    ],
)
def test_threshold_hysteresis(value: float, current: S | None, expected: S) -> None:
    assert POWER.evaluate(value, current) == expected


def test_fault_above() -> None:
    rule = ThresholdRule("current_a", off_below=0.05, running_above=2.0, fault_above=15.0)
    assert rule.evaluate(16.0, S.RUNNING) == S.FAULT


def test_discrete_map_and_default() -> None:
    rule = DiscreteRule(
        "status_word", {"0": S.IDLE, "1": S.RUNNING, "true": S.FAULT}, default=S.FAULT
    )
    assert [rule.evaluate(v) for v in (0, 1.0, "1", True, 7)] == [
        S.IDLE,
        S.RUNNING,
        S.RUNNING,
        S.FAULT,
        S.FAULT,
    ]


def test_precedence_fault_over_running_and_maintenance_over_all() -> None:
    rules = Rules(thresholds=(POWER,), discrete=(DiscreteRule("alarm", {"1": S.FAULT}),))
    readings = [
        Reading(at(0), {"power_w": 850.0, "alarm": 0}),
        Reading(at(10), {"power_w": 850.0, "alarm": 1}),
        Reading(at(20), {"power_w": 850.0, "alarm": 0}),
    ]
    assert run(rules, readings) == [("running", at(0)), ("fault", at(10)), ("running", at(20))]
    declared = Rules(thresholds=(POWER,), maintenance=True)
    assert run(declared, readings) == [("maintenance", at(0))]


def test_min_dwell_suppresses_flapping_and_dates_from_first_seen() -> None:
    rules = Rules(thresholds=(POWER,), min_dwell_s=30)
    powers = [(0, 850.0), (10, 0.0), (20, 850.0), (40, 0.0), (60, 0.0), (75, 0.0)]
    readings = [Reading(at(s), {"power_w": p}) for s, p in powers]
    assert run(rules, readings) == [("running", at(0)), ("off", at(40))]


def test_log_events_hold_until_the_next_and_older_events_are_ignored() -> None:
    readings = [
        Reading(at(100), events=(StateEvent(at(0), "running", "start"),)),
        Reading(at(200), {"log_records": 3}),
        Reading(
            at(300), events=(StateEvent(at(250), "idle", "end"), StateEvent(at(240), "fault", "x"))
        ),
        Reading(at(400), events=(StateEvent(at(100), "running", "late file"),)),
    ]
    assert run(Rules(), readings) == [("running", at(0)), ("fault", at(240)), ("idle", at(250))]


def test_failed_reads_change_nothing_and_raw_values_travel() -> None:
    inferrer = StateInferrer(Rules(thresholds=(POWER,)))
    (first,) = inferrer.feed(
        Reading(at(0), {"power_w": 850.0, "voltage_v": 230.0}, raw="dev 1 ...")
    )
    assert first.readings == {"power_w": 850.0, "voltage_v": 230.0}
    assert "power_w=850" in first.reason
    assert inferrer.feed(Reading(at(5), error="timeout")) == []
    assert inferrer.state == S.RUNNING
