"""The simulated instrument is deterministic and its power maps back to its scenario's states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jishi.agent.inference import Rules, StateInferrer, ThresholdRule
from jishi.drivers.base import DriverConfigError
from jishi.drivers.registry import create
from jishi.drivers.simulated import Scenario, SimulatedDriver, Step, parse_steps

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
RULES = Rules(
    thresholds=(ThresholdRule("power_w", off_below=5, running_above=300, hysteresis=10),),
)


def test_state_at_follows_steps_and_repeats() -> None:
    scenario = Scenario(steps=(Step("idle", 10), Step("running", 20), Step("off", 5)))
    assert scenario.state_at(EPOCH)[0] == "idle"
    assert scenario.state_at(EPOCH + timedelta(seconds=10))[0] == "running"
    assert scenario.state_at(EPOCH + timedelta(seconds=29.9))[0] == "running"
    assert scenario.state_at(EPOCH + timedelta(seconds=30))[0] == "off"
    assert scenario.state_at(EPOCH + timedelta(seconds=35))[0] == "idle"  # cycle repeats


def test_time_scale_accelerates() -> None:
    scenario = Scenario(steps=(Step("idle", 60), Step("running", 60)), time_scale=10)
    assert scenario.state_at(EPOCH + timedelta(seconds=6))[0] == "running"


def test_transitions_list_every_boundary() -> None:
    scenario = Scenario(steps=(Step("idle", 10), Step("running", 20)))
    got = scenario.transitions(EPOCH + timedelta(seconds=5), EPOCH + timedelta(seconds=65))
    assert [(int((t - EPOCH).total_seconds()), s) for t, s in got] == [
        (5, "idle"),
        (10, "running"),
        (30, "idle"),
        (40, "running"),
        (60, "idle"),
    ]


def test_readings_infer_back_to_scenario_states() -> None:
    driver = SimulatedDriver(
        "sim",
        scenario=Scenario(steps=(Step("off", 3), Step("idle", 3), Step("running", 3))),
        noise_w=20,
        seed=42,
    )
    inferrer = StateInferrer(RULES)
    seen = []
    for second in range(18):
        now = EPOCH + timedelta(seconds=second + 0.5)
        for reading in driver.poll(now):
            for transition in inferrer.feed(reading):
                seen.append((second, transition.state.value))
    assert seen == [
        (0, "off"),
        (3, "idle"),
        (6, "running"),
        (9, "off"),
        (12, "idle"),
        (15, "running"),
    ]


def test_seeded_noise_is_reproducible() -> None:
    def values(seed: int) -> list[object]:
        driver = SimulatedDriver(
            "s", scenario=Scenario(steps=(Step("running", 60),)), noise_w=30, seed=seed
        )
        return [driver.poll(EPOCH + timedelta(seconds=i))[0].values["power_w"] for i in range(5)]

    assert values(7) == values(7)
    assert values(7) != values(8)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "non-empty list"),
        ({"scenario": [["running"]]}, "expected [state, seconds]"),
        ({"scenario": [["busy", 10]]}, "unknown state 'busy'"),
        ({"scenario": [["idle", 0]]}, "seconds must be > 0"),
        ({"scenario": [["idle", 5]], "time_scale": 0}, "time_scale"),
        ({"scenario": [["idle", 5]], "seed": "x"}, "seed"),
    ],
)
def test_bad_options_name_the_problem(options: dict[str, object], problem: str) -> None:
    with pytest.raises(DriverConfigError) as info:
        create("simulated", "sim", options)
    assert problem in str(info.value)


def test_parse_steps_accepts_ints_and_floats() -> None:
    assert parse_steps([["idle", 1], ["running", 2.5]]) == (Step("idle", 1.0), Step("running", 2.5))
