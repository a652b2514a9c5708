"""Open sessions in the agent's core: forwarded in order, closed when the user forgot to sign
out while the instrument stayed off or idle, late sign-outs of those dropped."""

from __future__ import annotations

import pytest

from jishi.agent.core import InstrumentCore, OutboxFigures
from jishi.agent.emitter import Emitter
from jishi.agent.inference import Rules, ThresholdRule
from jishi.agent.messages import SessionMessage
from jishi.agent.sessions import FORGOT_SIGN_OUT, SessionTracker
from jishi.drivers.base import Reading, SessionEvent
from jishi.states import InstrumentState

from support.times import T0, at


def core(close_after_s: float = 600.0) -> InstrumentCore:
    rules = Rules(thresholds=(ThresholdRule(reading="power_w", off_below=5, running_above=300),))
    return InstrumentCore(
        instrument="nmr-1",
        site="lab",
        rules=rules,
        heartbeat_s=30.0,
        poll_s=1.0,
        sources=["meter", "signin"],
        emitter=Emitter(boot_at=T0, boot_id="boot0001"),
        session_close_after_s=close_after_s,
    )


def _poll(
    inst: InstrumentCore, t: float, power: float, *events: SessionEvent
) -> list[SessionMessage]:
    out = inst.poll(
        at(t),
        [
            ("meter", [Reading(ts=at(t), values={"power_w": power})]),
            ("signin", [Reading(ts=at(t), sessions=events)] if events else []),
        ],
    )
    return [o.message for o in out if isinstance(o.message, SessionMessage)]


def test_a_forgotten_session_ends_when_the_quiet_spell_began() -> None:
    inst = core(close_after_s=600)
    start = SessionEvent(at(0), "start", "s-1", user="wang", user_type="external")
    [sent] = _poll(inst, 0, 800, start)
    assert (sent.event, sent.user, sent.user_type, sent.source) == (
        "start",
        "wang",
        "external",
        "signin",
    )
    assert _poll(inst, 100, 120) == []  # idle from 100 s
    assert _poll(inst, 699, 120) == []  # 599 s idle: not yet
    [ended] = _poll(inst, 700, 120)
    assert (ended.event, ended.ts, ended.reason, ended.user) == (
        "end",
        at(100),
        FORGOT_SIGN_OUT,
        "wang",
    )
    # The user's own sign-out comes much later: dropped, it would stretch the session again.
    assert _poll(inst, 5000, 120, SessionEvent(at(5000), "end", "s-1")) == []


def test_running_keeps_a_session_open_and_its_own_end_goes_through() -> None:
    inst = core(close_after_s=600)
    _poll(inst, 0, 800, SessionEvent(at(0), "start", "s-1", user="wang"))
    assert _poll(inst, 3000, 800) == []
    [ended] = _poll(
        inst, 3100, 120, SessionEvent(at(3100), "end", "s-1", outcome="fault", sample_count=3)
    )
    assert (ended.event, ended.reason, ended.outcome, ended.sample_count) == (
        "end",
        None,
        "fault",
        3,
    )


def test_a_sign_in_during_a_quiet_spell_gets_the_full_time() -> None:
    tracker = SessionTracker(close_after_s=600)
    tracker.feed(SessionEvent(at(500), "start", "s-2"), "signin")
    idle = InstrumentState.IDLE
    assert tracker.expire(at(1000), idle, at(0)) == []  # quiet 1000 s, signed in only 500
    [(end, source)] = tracker.expire(at(1100), idle, at(0))
    assert (end.ts, end.reason, source) == (at(500), FORGOT_SIGN_OUT, "signin")


@pytest.mark.parametrize("state", [InstrumentState.RUNNING, InstrumentState.FAULT, None])
def test_only_off_and_idle_close_sessions(state: InstrumentState | None) -> None:
    tracker = SessionTracker(close_after_s=60)
    tracker.feed(SessionEvent(at(0), "start", "s-1"), "x")
    assert tracker.expire(at(10_000), state, at(0)) == []


def test_zero_turns_closing_off() -> None:
    tracker = SessionTracker(close_after_s=0)
    tracker.feed(SessionEvent(at(0), "start", "s-1"), "x")
    assert tracker.expire(at(10**6), InstrumentState.OFF, at(0)) == []
    assert "s-1" in tracker.open


def test_a_sign_in_point_does_not_vouch_for_the_state() -> None:
    """Its reads say who, not what the instrument does: with the meter silent the heartbeats
    stop although the sign-in point still reads well."""
    inst = core()
    inst.poll(at(0), [("meter", [Reading(ts=at(0), values={"power_w": 800.0})])])
    for t in range(1, 200, 10):
        inst.poll(at(t), [("signin", [Reading(ts=at(t), raw="nobody signed in", vouches=False)])])
    assert inst.heartbeat(at(200), 200.0, OutboxFigures()) is None
    assert inst.silent


def test_open_and_closed_sessions_survive_a_restart() -> None:
    first = core(close_after_s=600)
    _poll(first, 0, 800, SessionEvent(at(0), "start", "s-1", user="wang", user_type="internal"))
    _poll(first, 0, 800, SessionEvent(at(0), "start", "s-2", user="li"))
    _poll(first, 10, 800, SessionEvent(at(10), "end", "s-2"))
    saved = first.to_save()
    assert saved is not None

    again = core(close_after_s=600)
    again.restore(saved)
    _poll(again, 100, 120)  # idle from 100 s, in the new agent
    [ended] = _poll(again, 700, 120)
    assert (ended.session_id, ended.user, ended.user_type, ended.ts) == (
        "s-1",
        "wang",
        "internal",
        at(100),
    )
    assert _poll(again, 800, 120, SessionEvent(at(800), "end", "s-2")) == []  # ended before
