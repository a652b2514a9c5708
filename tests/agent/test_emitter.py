"""The emitter: envelopes, a boot id and seq counter per instrument, the chain, what a state
message says about when the state began and when the agent knew it."""

from __future__ import annotations

from jishi.agent.emitter import Birth, Emitter
from jishi.agent.inference import Transition
from jishi.agent.messages import (
    AgentHealth,
    Evidence,
    HeartbeatMessage,
    InstrumentState,
    StateMessage,
)

from support.times import T0, at
from support.wire_agreement import read_back


def hb(emitter: Emitter, instrument: str, seconds: float) -> HeartbeatMessage:
    out = emitter.heartbeat(
        "lab",
        instrument,
        ts=at(seconds),
        state=InstrumentState.IDLE,
        since=at(0),
        interval_s=30,
        readings={},
        health=AgentHealth(),
    )
    assert isinstance(out.message, HeartbeatMessage)
    return out.message


def test_each_instrument_has_its_boot_id_its_gapless_seq_and_its_chain() -> None:
    emitter = Emitter(boot_at=T0, boot_id="boot-0001")
    a1 = hb(emitter, "nmr", 1)
    birth = emitter.birth("lab", "xrd", at(1), Birth("0.1", None, 30)).message
    b1 = hb(emitter, "xrd", 2)
    session = emitter.session("lab", "nmr", ts=at(3), event="start", session_id="s1").message
    a2 = hb(emitter, "nmr", 4)
    will = emitter.offline("lab", "nmr", at(5)).message
    b2 = hb(emitter, "xrd", 6)
    nmr, xrd = (a1, session, a2, will), (birth, b1, b2)
    # One counter per instrument: strictly increasing per boot_id, no other instrument's gaps.
    assert [m.seq for m in nmr] == [0, 1, 2, 3]
    assert [m.seq for m in xrd] == [0, 1, 2]
    assert {m.boot_id for m in nmr} == {emitter.boot_of("lab", "nmr")}
    assert {m.boot_id for m in xrd} == {emitter.boot_of("lab", "xrd")}
    assert emitter.boot_of("lab", "nmr") != emitter.boot_of("lab", "xrd")
    assert emitter.boot_of("lab", "nmr").startswith("boot-0001-")
    # Only state and hb messages form the chain (the collector withdraws a will by it).
    assert (a1.prev_seq, a2.prev_seq) == (None, a1.seq)
    assert (b1.prev_seq, b2.prev_seq) == (None, b1.seq)
    assert all(m.boot_at == T0 for m in (*nmr, *xrd))


def test_a_state_message_says_since_when_and_when_the_agent_knew() -> None:
    emitter = Emitter(boot_at=T0)
    change = Transition(InstrumentState.RUNNING, InstrumentState.IDLE, at(10), "line", {})
    message = emitter.state("lab", "nmr", change, at(70)).message
    assert isinstance(message, StateMessage)
    assert (message.since, message.ts, message.until) == (at(10), at(70), None)
    assert message.evidence == Evidence.READING
    record = Transition(
        InstrumentState.RUNNING, None, at(10), "audit", {}, until=at(60), record=True, source="log"
    )
    closed = emitter.state("lab", "nmr", record, at(90)).message
    assert isinstance(closed, StateMessage)
    assert (closed.since, closed.until, closed.evidence, closed.source) == (
        at(10),
        at(60),
        Evidence.RECORD,
        "log",
    )
    assert closed.prev_seq == message.seq
    # What goes on the wire reads back the same (schema 2).
    read_back(closed)
    assert closed.schema_version == 2
