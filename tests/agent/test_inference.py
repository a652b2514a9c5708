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


# --- combining rules that disagree (docs/agent.md, "When rules disagree") -------------------

PROCESS_GATE = DiscreteRule("process_running", {"false": S.OFF})
CPU = ThresholdRule("process_cpu_percent", running_above=20)


@pytest.mark.parametrize(
    ("running", "cpu", "expected"),
    [
        (False, 0.0, S.OFF),  # the gate decides: software not running -> off
        (False, 80.0, S.OFF),  # a stray CPU figure cannot override the gate
        (True, 3.0, S.IDLE),  # the gate has no opinion: the threshold decides
        (True, 55.0, S.RUNNING),
    ],
)
def test_a_discrete_gate_ranks_above_a_threshold(running: bool, cpu: float, expected: S) -> None:
    """docs/drivers.md's process example reaches off, idle and running."""
    inferrer = StateInferrer(Rules(thresholds=(CPU,), discrete=(PROCESS_GATE,)))
    inferrer.feed(Reading(at(0), {"process_running": running, "process_cpu_percent": cpu}))
    assert inferrer.state == expected


def test_priority_can_be_given_per_rule_and_a_fault_from_any_rule_wins() -> None:
    status = DiscreteRule("status", {"1": S.IDLE, "2": S.RUNNING})
    power = ThresholdRule("power_w", off_below=5, running_above=300, fault_above=5000)
    inferrer = StateInferrer(Rules(thresholds=(power,), discrete=(status,)))
    inferrer.feed(Reading(at(0), {"status": 1, "power_w": 800.0}))
    assert inferrer.state == S.IDLE  # the status word (20) outranks the meter (10)
    inferrer.feed(Reading(at(1), {"status": 1, "power_w": 6000.0}))
    assert inferrer.state == S.FAULT  # an alarm is an alarm, whatever its priority
    trusted = ThresholdRule("power_w", off_below=5, running_above=300, priority=50)
    inferrer = StateInferrer(Rules(thresholds=(trusted,), discrete=(status,)))
    inferrer.feed(Reading(at(0), {"status": 1, "power_w": 800.0}))
    assert inferrer.state == S.RUNNING


def test_equal_priorities_give_the_strongest_state() -> None:
    rules = Rules(discrete=(DiscreteRule("a", {"1": S.IDLE}), DiscreteRule("b", {"1": S.RUNNING})))
    inferrer = StateInferrer(rules)
    inferrer.feed(Reading(at(0), {"a": 1, "b": 1}))
    assert inferrer.state == S.RUNNING


# --- records found after the fact (DESIGN.md, "Freshness, evidence and unknown time") --------


def record(seconds: float, state: str, until: float | None = None) -> StateEvent:
    end = None if until is None else at(until)
    return StateEvent(
        at(seconds), state, f"line at {seconds}", until=end, record=True, source="log"
    )


def test_a_closed_record_older_than_the_current_state_is_reported_as_an_interval() -> None:
    inferrer = StateInferrer(Rules())
    inferrer.feed(Reading(at(100), events=[record(90, "idle")]))
    found = inferrer.feed(
        Reading(at(200), events=[record(20, "running", until=60), record(60, "idle")])
    )
    assert [(t.state, t.since, t.until, t.record, t.source) for t in found] == [
        (S.RUNNING, at(20), at(60), True, "log")
    ]
    assert (inferrer.state, inferrer.since) == (S.IDLE, at(90))  # the present is unchanged


def test_a_newer_closed_record_moves_the_state_through_its_run() -> None:
    inferrer = StateInferrer(Rules())
    found = inferrer.feed(
        Reading(at(200), events=[record(20, "running", until=60), record(60, "idle")])
    )
    assert [(t.state, t.since, t.until, t.record) for t in found] == [
        (S.RUNNING, at(20), None, True),
        (S.IDLE, at(60), None, True),
    ]


def test_an_event_dated_in_the_future_waits_until_it_is_due_and_survives_a_restart() -> None:
    """A NovaSeq run ends with a wash whose end the run file announces."""
    inferrer = StateInferrer(Rules())
    found = inferrer.feed(
        Reading(at(100), events=[record(10, "running", until=160), record(160, "idle")])
    )
    assert [(t.state, t.since) for t in found] == [(S.RUNNING, at(10))]
    assert [e.ts for e in inferrer.deferred] == [at(160)]
    restarted = StateInferrer(Rules())
    restarted.restore(inferrer.snapshot())
    assert restarted.feed(Reading(at(150))) == []
    late = restarted.feed(Reading(at(170), error="device busy"))  # due even on a failed read
    assert [(t.state, t.since, t.record) for t in late] == [(S.IDLE, at(160), True)]
    assert restarted.deferred == ()


def test_a_snapshot_from_the_previous_agent_version_restores() -> None:
    inferrer = StateInferrer(Rules())
    inferrer.restore(
        {
            "state": "running",
            "since": at(5).isoformat(),
            "event_state": "running",
            "event_reason": "acquisition",
            "event_ts": at(5).isoformat(),
        }
    )
    # An older event than the restored one is ignored; a newer one applies.
    assert inferrer.feed(Reading(at(50), events=[record(1, "idle")])) == []
    assert [t.state for t in inferrer.feed(Reading(at(60), events=[record(40, "idle")]))] == [
        S.IDLE
    ]
