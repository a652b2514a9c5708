"""The agent's messages (dataclasses, no pydantic) agree with the collector's models.

Every kind of message, built the way the agent builds it (through the :class:`Emitter`) from
generated inputs, must be valid to the pydantic models of :mod:`jishi.agent.wire`, read back as
the same values, and be the JSON the models would write. A replayed message (the
``historical`` flag set on the stored bytes) must read back as the model with the flag set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jishi.agent import messages, wire
from jishi.agent.emitter import Birth, Emitter, Outgoing
from jishi.agent.inference import Transition
from jishi.agent.messages import AgentHealth, InstrumentState, SourceHealth, UserType

from support.times import T0
from support.wire_agreement import read_back

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
# Naive bounds are what hypothesis asks for; every drawn time gets one of ``zones``.
times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=zones,
)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
short = st.text(st.characters(blacklist_categories=("Cs",)), max_size=64)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**62), max_value=2**62),
    text,
    st.booleans(),
    st.none(),
)
readings = st.dictionaries(text, values, max_size=5)
states = st.sampled_from(list(InstrumentState))
counts = st.integers(min_value=0, max_value=10**9)
seconds = st.floats(min_value=0.001, max_value=86_400)


@st.composite
def emitters(draw: st.DrawFn) -> tuple[Emitter, str, str]:
    emitter = Emitter(boot_at=draw(times), boot_id=draw(st.uuids()).hex)
    return emitter, draw(ids), draw(ids)


@st.composite
def healths(draw: st.DrawFn) -> AgentHealth:
    sources = draw(
        st.dictionaries(
            ids,
            st.builds(
                SourceHealth,
                last_good_read=st.none() | times,
                read_errors=counts,
                last_error=st.none() | text,
            ),
            max_size=3,
        )
    )
    return AgentHealth(
        outbox_depth=draw(counts),
        oldest_unsent_s=draw(st.none() | seconds),
        dropped=draw(counts),
        held_in_memory=draw(counts),
        last_good_read=draw(st.none() | times),
        read_errors=draw(counts),
        clock_offset_s=draw(st.none() | st.floats(-1e6, 1e6)),
        clock_jumps=draw(counts),
        sources=sources,
    )


@given(emitters(), states, st.none() | states, times, st.none() | seconds, st.booleans(),
       st.none() | short, text, readings, times)  # fmt: skip
@settings(max_examples=150, deadline=None)
def test_state_messages_agree(  # noqa: PLR0917 - hypothesis passes what it draws by position
    made: tuple[Emitter, str, str], state: InstrumentState, previous: InstrumentState | None,
    since: datetime, length: float | None, record: bool, source: str | None, reason: str,
    values: dict[str, Any], now: datetime,
) -> None:  # fmt: skip
    emitter, site, instrument = made
    until = None if length is None else since + timedelta(seconds=length)
    transition = Transition(
        state, previous, since, reason, values, until=until, record=record, source=source
    )
    first = emitter.state(site, instrument, transition, now)
    second = emitter.state(site, instrument, transition, now)  # chained: prev_seq is set
    for out in (first, second):
        check(out)


@given(emitters(), times, states, times, seconds, readings, healths())
@settings(max_examples=150, deadline=None)
def test_heartbeats_agree(  # noqa: PLR0917 - hypothesis passes what it draws by position
    made: tuple[Emitter, str, str], ts: datetime, state: InstrumentState, since: datetime,
    interval: float, values: dict[str, Any], health: AgentHealth,
) -> None:  # fmt: skip
    emitter, site, instrument = made
    for interval_s in (interval, round(interval) or 1):  # an int interval is a float on the wire
        check(
            emitter.heartbeat(
                site, instrument, ts=ts, state=state, since=since, interval_s=interval_s,
                readings=values, health=health,
            )
        )  # fmt: skip


@given(emitters(), times, st.sampled_from(["start", "end"]),
       st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=128),
       st.none() | text, st.none() | text,
       st.none() | st.sampled_from([*UserType, "visitor"]), st.none() | text,
       st.none() | short, st.sampled_from([None, "normal", "fault", "odd"]),
       st.none() | st.integers(0, 1_000_000))  # fmt: skip
@settings(max_examples=150, deadline=None)
def test_session_messages_agree(  # noqa: PLR0917 - hypothesis passes what it draws by position
    made: tuple[Emitter, str, str], ts: datetime, event: str, session_id: str,
    user: str | None, org: str | None, user_type: str | None, source: str | None,
    reason: str | None, outcome: str | None, sample_count: int | None,
) -> None:  # fmt: skip
    emitter, site, instrument = made
    check(
        emitter.session(
            site, instrument, ts=ts, event=event, session_id=session_id, user=user, org=org,
            user_type=user_type, source=source, reason=reason, outcome=outcome,
            sample_count=sample_count,
        )
    )  # fmt: skip


@given(emitters(), times, st.none() | text, seconds, st.none() | text, st.none() | text,
       st.sampled_from(["general", "specialised"]), st.none() | text)  # fmt: skip
@settings(max_examples=100, deadline=None)
def test_births_and_wills_agree(  # noqa: PLR0917 - hypothesis passes what it draws by position
    made: tuple[Emitter, str, str], now: datetime, config_hash: str | None, interval: float,
    name: str | None, unit: str | None, category: str, hostname: str | None,
) -> None:  # fmt: skip
    emitter, site, instrument = made
    about = Birth("0.1.0", config_hash, interval, name, unit, category, hostname)
    check(emitter.birth(site, instrument, now, about))
    check(emitter.offline(site, instrument, now))


def check(out: Outgoing) -> None:
    """The message reads back the same; so does its replay, with the flag set."""
    model = read_back(out.message)
    assert model.kind == out.kind.value
    replayed = messages.with_historical(messages.encode(out.message))
    flagged = model.model_copy(update={"historical": True})
    assert wire.decode_any(replayed) == flagged
    assert json.loads(wire.encode(flagged)) == json.loads(replayed)


ENVELOPE: dict[str, Any] = {
    "instrument": "nmr-600", "site": "lab", "boot_id": "0123456789abcdef", "seq": 7, "ts": T0,
}  # fmt: skip


@pytest.mark.parametrize(
    "message",
    [
        messages.StatusMessage(**ENVELOPE, online=False),
        messages.StatusMessage(**ENVELOPE, boot_at=T0, online=True, heartbeat_interval_s=30,
                               stale_after_s=90, agent_version="0.1.0", name="核磁共振"),
        messages.StateMessage(**ENVELOPE, state=InstrumentState.IDLE, since=T0),
        messages.StateMessage(**ENVELOPE, historical=True, state=InstrumentState.RUNNING,
                              previous=InstrumentState.IDLE, since=T0, until=T0,
                              evidence=messages.Evidence.RECORD, source="log", prev_seq=6,
                              reason="started", readings={"power_w": 812, "ok": True}),
        messages.HeartbeatMessage(**ENVELOPE, state=InstrumentState.OFF, since=T0),
        messages.HeartbeatMessage(**ENVELOPE, state=InstrumentState.FAULT, since=T0,
                                  interval_s=10, readings={"x": None, "y": float("inf")},
                                  health=AgentHealth(sources={"modbus": SourceHealth()})),
        messages.SessionMessage(**ENVELOPE, event="start", session_id="s-1"),
        messages.SessionMessage(**ENVELOPE, event="end", session_id="s-1", user="li",
                                org="Physics", user_type=UserType.EXTERNAL, source="login",
                                reason="forgot_sign_out", outcome="normal", sample_count=3),
    ],
)  # fmt: skip
def test_every_kind_with_and_without_its_optional_fields(message: messages.Message) -> None:
    model = read_back(message)
    data = json.loads(messages.encode(message))
    assert list(data)[:7] == ["schema", "instrument", "site", "boot_id", "seq", "ts", "historical"]
    assert data["kind"] == model.kind
    assert all(value is not None for value in data.values())  # absent, as the models write


def test_a_naive_time_is_refused_not_guessed() -> None:
    naive = messages.StateMessage(
        **ENVELOPE | {"ts": datetime(2026, 3, 1, 8, 30)},  # noqa: DTZ001 - the case under test
        state=InstrumentState.IDLE,
        since=T0,
    )
    with pytest.raises(ValueError, match="naive time"):
        messages.encode(naive)


def test_replay_leaves_a_row_that_is_not_a_message_alone() -> None:
    for payload in (b"[]", b'{"kind": "hb"}', b'{"kind": "other", "seq": 1}', b"\xff"):
        with pytest.raises(ValueError):
            messages.with_historical(payload)
