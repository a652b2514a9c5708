"""The agent's pure core: silence, heartbeat timing and content, health figures, restarts."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from jishi.agent.core import (
    InstrumentCore,
    OutboxFigures,
    agent_health,
    heartbeat_due,
    silence_after,
    sources_silent,
)
from jishi.agent.emitter import Emitter
from jishi.agent.inference import Rules, ThresholdRule
from jishi.agent.messages import (
    HeartbeatMessage,
    InstrumentState,
    MessageKind,
    SourceHealth,
    StateMessage,
)
from jishi.drivers.base import Reading, SessionEvent, StateEvent

from support.times import T0, at


def core(heartbeat_s: float = 30.0, poll_s: float = 1.0) -> InstrumentCore:
    rules = Rules(thresholds=(ThresholdRule(reading="power_w", off_below=5, running_above=300),))
    return InstrumentCore(
        instrument="nmr-1",
        site="lab",
        rules=rules,
        heartbeat_s=heartbeat_s,
        poll_s=poll_s,
        sources=["meter"],
        emitter=Emitter(boot_at=T0, boot_id="boot0001"),
    )


@pytest.mark.parametrize(
    ("reads", "now_s", "heartbeat_s", "poll_s", "silent"),
    [
        ([], 0, 30, 1, True),  # never read well: nothing to vouch for
        ([None], 0, 30, 1, True),
        ([at(0)], 60, 30, 1, False),  # two heartbeats exactly: still heard
        ([at(0)], 60.5, 30, 1, True),
        ([at(0)], 20, 1, 10, False),  # three polls when polls are slower than heartbeats
        ([at(0)], 31, 1, 10, True),
        ([None, at(0), at(-100)], 10, 30, 1, False),  # the latest good read of any source
    ],
)
def test_silence_rule(
    reads: list[datetime | None], now_s: float, heartbeat_s: float, poll_s: float, silent: bool
) -> None:
    assert sources_silent(reads, at(now_s), heartbeat_s=heartbeat_s, poll_s=poll_s) is silent


def test_silence_after_is_two_heartbeats_or_three_polls() -> None:
    assert silence_after(30, 1) == 60
    assert silence_after(1, 10) == 30


def test_heartbeat_due_needs_a_state_and_the_time() -> None:
    assert not heartbeat_due(None, None, 5.0)
    assert heartbeat_due(InstrumentState.IDLE, None, 5.0)
    assert heartbeat_due(InstrumentState.IDLE, 5.0, 5.0)
    assert not heartbeat_due(InstrumentState.IDLE, 5.5, 5.0)
    assert heartbeat_due(InstrumentState.IDLE, at(1), at(2))  # the bridge's datetimes
    assert not heartbeat_due(InstrumentState.IDLE, at(3), at(2))


def test_health_is_built_from_the_figures_passed_in() -> None:
    figures = OutboxFigures.at(depth=4, oldest_created=100.0, dropped=2, now=112.34567)
    assert figures == OutboxFigures(depth=4, oldest_unsent_s=12.346, dropped=2)
    assert (
        OutboxFigures.at(depth=0, oldest_created=None, dropped=0, now=1.0).oldest_unsent_s is None
    )
    sources = {
        "a": SourceHealth(last_good_read=at(5), read_errors=1),
        "b": SourceHealth(last_good_read=at(9), read_errors=2, last_error="timeout"),
        "c": SourceHealth(),
    }
    health = agent_health(figures, sources, clock_jumps=3)
    assert health.outbox_depth == 4 and health.oldest_unsent_s == 12.346 and health.dropped == 2
    assert health.last_good_read == at(9)
    assert health.read_errors == 3
    assert health.clock_jumps == 3
    assert health.sources == sources


def test_heartbeat_says_the_state_and_the_figures() -> None:
    inst = core()
    assert not inst.heartbeat_due(0.0)  # no state yet: no heartbeat
    assert inst.next_wake() == float("inf")
    out = inst.poll(at(0), [("meter", [Reading(ts=at(0), values={"power_w": 500.0})])])
    assert [o.kind for o in out] == [MessageKind.STATE]
    assert inst.heartbeat_due(0.0)
    beat = inst.heartbeat(at(1), 0.0, OutboxFigures(depth=7), clock_jumps=1)
    assert beat is not None and isinstance(beat.message, HeartbeatMessage)
    message = beat.message
    assert (message.state, message.since, message.ts) == ("running", at(0), at(1))
    assert message.readings == {"power_w": 500.0}
    assert message.health.outbox_depth == 7 and message.health.clock_jumps == 1
    assert message.health.sources["meter"].last_good_read == at(0)
    assert message.prev_seq == out[0].seq  # the chain goes on through heartbeats
    assert not inst.heartbeat_due(29.9) and inst.heartbeat_due(30.0)


def test_silent_sources_pause_heartbeats_and_say_so_once(caplog: pytest.LogCaptureFixture) -> None:
    inst = core(heartbeat_s=10, poll_s=1)
    inst.poll(at(0), [("meter", [Reading(ts=at(0), values={"power_w": 0.0})])])
    caplog.set_level(logging.INFO, logger="jishi.agent.core")
    assert inst.heartbeat(at(30), 30.0, OutboxFigures()) is None
    assert inst.heartbeat(at(40), 40.0, OutboxFigures()) is None
    assert inst.silent and inst.next_heartbeat == 50.0  # the schedule goes on
    assert sum("heartbeats paused" in r.message for r in caplog.records) == 1
    inst.poll(at(45), [("meter", [Reading(ts=at(45), values={"power_w": 0.0})])])
    assert inst.heartbeat(at(50), 50.0, OutboxFigures()) is not None
    assert not inst.silent
    assert sum("heartbeats resumed" in r.message for r in caplog.records) == 1


def test_failed_reads_are_counted_per_source() -> None:
    inst = core()
    inst.poll(at(0), [("meter", [Reading(ts=at(0), error="timeout")])])
    inst.poll(at(1), [("meter", [Reading(ts=at(1), values={"power_w": 1.0}, raw="01 03")])])
    figures = inst.sources["meter"]
    assert (figures.read_errors, figures.last_error, figures.last_good_read) == (
        1,
        "timeout",
        at(1),
    )
    assert (figures.last_values, figures.last_raw) == ({"power_w": 1.0}, "01 03")


def test_sessions_follow_the_states_of_the_same_poll() -> None:
    inst = core()
    reading = Reading(
        ts=at(0),
        values={"power_w": 500.0},
        sessions=(SessionEvent(at(0), "start", "s-1", user="wang"),),
    )
    out = inst.poll(at(0), [("meter", [reading])])
    assert [o.kind for o in out] == [MessageKind.STATE, MessageKind.SESSION]
    assert [o.seq for o in out] == [0, 1]


def test_a_record_state_is_said_again_first_after_a_restart() -> None:
    first = core()
    start = StateEvent(at(0), "running", "START", record=True, source="log")
    first.poll(at(0), [("meter", [Reading(ts=at(0), events=(start,))])])
    saved = first.to_save()
    assert saved is not None
    first.saved(saved)
    assert first.to_save() is None  # unchanged since saved: nothing to write

    again = core()
    again.restore(saved)
    out = again.poll(at(3600), [("meter", [])])
    assert len(out) == 1
    message = out[0].message
    assert isinstance(message, StateMessage)
    assert (message.state, message.since, message.ts) == ("running", at(0), at(3600))
    assert message.evidence == "record"
    assert again.poll(at(3601), [("meter", [])]) == []  # said once


def test_an_unreadable_saved_state_is_ignored() -> None:
    inst = core()
    inst.restore("{not json")
    inst.restore(None)
    assert inst.inferrer.state is None and inst.resumed is None
