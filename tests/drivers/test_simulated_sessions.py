"""Simulated sign-ins: deterministic ids and times per cycle, config errors named."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jishi.demo import demo_instruments
from jishi.drivers.base import DriverConfigError
from jishi.drivers.simulated import DEFAULT_EPOCH, SimulatedDriver


def _driver(speed: float = 1.0) -> SimulatedDriver:
    return SimulatedDriver.from_options(
        "sim",
        {
            "scenario": [["running", 60], ["idle", 40]],
            "time_scale": speed,
            "sessions": [
                {"user": "zhang", "user_type": "internal", "start_s": 0, "seconds": 50},
                {
                    "user": "li",
                    "user_type": "external",
                    "org": "Acme",
                    "start_s": 55,
                    "seconds": 45,
                },
            ],
        },
    )


def _at(seconds: float):
    return DEFAULT_EPOCH + timedelta(days=3, seconds=seconds)  # 3 days = 2592 whole cycles


def test_sessions_start_and_end_at_their_scheduled_times() -> None:
    driver = _driver()
    [first] = driver.poll(_at(10))[0].sessions
    assert (first.event, first.user, first.ts, first.session_id) == (
        "start",
        "zhang",
        _at(0),
        "sim-2592-0",
    )
    assert not driver.poll(_at(20))[0].sessions
    ended, started = driver.poll(_at(60))[0].sessions
    assert (ended.event, ended.session_id, ended.ts) == ("end", "sim-2592-0", _at(50))
    assert (started.event, started.user_type, started.org, started.ts) == (
        "start",
        "external",
        "Acme",
        _at(55),
    )
    [ended2, next_cycle] = driver.poll(_at(101))[0].sessions
    assert (ended2.ts, next_cycle.session_id) == (_at(100), "sim-2593-0")


def test_speed_shrinks_the_wall_times() -> None:
    driver = _driver(speed=10)
    [first] = driver.poll(_at(1))[0].sessions  # 10 scenario seconds in
    assert first.ts == _at(0)
    ended, _ = driver.poll(_at(6))[0].sessions
    assert ended.ts == _at(5)


@pytest.mark.parametrize(
    ("sessions", "message"),
    [
        ([{"user": "x", "start_s": 90, "seconds": 20}], "inside the scenario's cycle of 100 s"),
        ([{"user": "x", "seconds": 20, "user_type": "vip"}], "user_type"),
        ([{"user": "x", "seconds": 20, "when": 1}], "unknown key(s) when"),
        ("zhang", "expected a list"),
    ],
)
def test_bad_sessions_are_named(sessions: object, message: str) -> None:
    options = {"scenario": [["running", 60], ["idle", 40]], "sessions": sessions}
    with pytest.raises(DriverConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SimulatedDriver.from_options("sim", options)


def test_the_demo_signs_in_internal_and_external_users_on_every_instrument() -> None:
    for config in demo_instruments(3, 1.0):
        types = {s["user_type"] for s in config["source"]["sessions"]}
        assert types == {"internal", "external"}, config["id"]
        SimulatedDriver.from_options("sim", config["source"])  # valid
