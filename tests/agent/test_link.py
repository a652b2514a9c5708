"""The link's pure parts: the one rule that makes a message historical, and its re-encoding."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jishi.agent import messages
from jishi.agent.config import MqttConfig
from jishi.agent.emitter import Emitter
from jishi.agent.inference import Transition
from jishi.agent.link import (
    MAX_CLIENT_ID_CHARS,
    Link,
    LinkTimings,
    client_id_suffix,
    default_client_id,
    is_historical,
    replay_payload,
)
from jishi.agent.outbox import Outbox
from jishi.agent.wire import (
    HeartbeatMessage,
    InstrumentState,
    StateMessage,
    decode_any,
    encode,
)

from support.agentproc import Recorder
from support.servers import Mosquitto

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
BOOT = "0123456789abcdef-1a2b3c4d"


LIVE = {"row_boot_id": BOOT, "row_created": 100.0, "resend": False, "reconnected_at": None}


@pytest.mark.parametrize(
    ("case", "facts", "now", "historical"),
    [
        ("live", {}, 101.0, False),
        ("start-up latency", {}, 105.0, False),
        ("waited out an outage before the first connection", {}, 105.5, True),
        ("from an earlier boot", {"row_boot_id": "fedcba9876543210-1a2b3c4d"}, 100.1, True),
        ("sent before, never acknowledged", {"resend": True}, 100.1, True),
        ("observed while the link was down", {"reconnected_at": 102.0}, 102.1, True),
        (
            "observed on the current connection",
            {"row_created": 103.0, "reconnected_at": 102.0},
            103.1,
            False,
        ),
    ],
)
def test_historical_is_decided_in_one_place(
    case: str, facts: dict[str, Any], now: float, historical: bool
) -> None:
    decided = is_historical(
        **(LIVE | facts),
        boot_id=BOOT,
        now=now,
        historical_after_s=LinkTimings().historical_after_s,
    )
    assert decided is historical, case


def test_the_age_rule_is_injectable() -> None:
    facts = {"row_boot_id": BOOT, "row_created": 100.0, "resend": False, "boot_id": BOOT}
    assert is_historical(**facts, reconnected_at=None, now=101.5, historical_after_s=1.0)
    assert not is_historical(**facts, reconnected_at=None, now=101.5, historical_after_s=5.0)


def test_replay_sets_the_flag_and_the_message_reads_back_the_same() -> None:
    envelope = {"instrument": "nmr-1", "site": "lab", "boot_id": BOOT, "seq": 7, "ts": T0}
    for message in (
        # A reading named "historical" is not the envelope's flag.
        HeartbeatMessage(**envelope, state="idle", since=T0, readings={"historical": False}),
        StateMessage(**envelope, state="running", since=T0, prev_seq=6, reason="x"),
    ):
        stored = encode(message)
        replayed = replay_payload(stored)
        assert json.loads(replayed) == json.loads(stored) | {"historical": True}
        assert decode_any(replayed) == message.model_copy(update={"historical": True})


def test_a_row_that_is_not_a_message_is_replayed_unchanged() -> None:
    assert replay_payload(b'{"kind": "hb", "garbage": 1}') == b'{"kind": "hb", "garbage": 1}'
    assert replay_payload(b"\xff not json") == b"\xff not json"


@pytest.mark.integration
def test_a_link_replays_what_waited_and_sends_the_rest_live(
    tmp_path: Path, mosquitto_session: Mosquitto
) -> None:
    """The link's own clock, injected: no test sleeps for rows to grow old."""
    emitter = Emitter(boot_at=T0)
    boot = emitter.boot_of("lab", "nmr-link")
    earlier = Emitter(boot_at=T0, boot_id="fedcba9876543210")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    now = 1_000_000.0
    rows = [
        (earlier, now - 1.0),  # an earlier boot's, however young
        (emitter, now - 30.0),  # waited out an outage before this link's first connection
        (emitter, now - 1.0),  # start-up latency: live
    ]
    for source, created in rows:
        out = source.state("lab", "nmr-link", Transition(InstrumentState.IDLE, None, T0, "x"), T0)
        outbox.put(
            instrument="nmr-link",
            kind="state",
            topic="jishi/v1/lab/nmr-link/state",
            payload=messages.encode(out.message),
            boot_id=out.message.boot_id,
            seq=out.seq,
            created=created,
        )
    status = messages.encode(emitter.offline("lab", "nmr-link", T0).message)
    recorder = Recorder("127.0.0.1", mosquitto_session.port, client_id="rec-link-test").start()
    link = Link(
        instrument="nmr-link",
        client_id="jishi-link-test",
        mqtt=MqttConfig(broker=mosquitto_session.url),
        outbox=outbox,
        boot_id=boot,
        status_topic="jishi/v1/lab/nmr-link/status",
        birth=lambda: status,
        will=lambda: status,
        offline=lambda: status,
        timings=LinkTimings(historical_after_s=5.0),
        clock=lambda: now,
    )
    link.start()
    try:
        assert recorder.wait_for(lambda: len(recorder.of_kind("state", "nmr-link")) >= 3, 10)
        assert recorder.wait_for(lambda: outbox.stats("nmr-link").depth == 0, 10)
    finally:
        link.stop()
        recorder.stop()
        outbox.close()
    received = recorder.of_kind("state", "nmr-link")
    assert [m["historical"] for m in received] == [True, True, False]


def test_default_client_id_keeps_the_random_suffix_within_the_limit() -> None:
    # Issue 17, item 3: the suffix makes the id unguessable; it must survive any cut.
    short = default_client_id("chem", "nmr-600", "pc-1", "0123456789ab")
    assert short == "jishi-chem-nmr-600-pc-1-0123456789ab"
    long = default_client_id("s" * 60, "i" * 60, "a" * 60, "0123456789ab")
    assert len(long) == MAX_CLIENT_ID_CHARS and long.endswith("-0123456789ab")
    # Names that differ only past the cut still get different ids (the hash).
    other = default_client_id("s" * 60, "i" * 60, "a" * 59 + "b", "0123456789ab")
    assert other != long


def test_client_id_suffix_is_made_once_per_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    first = client_id_suffix(outbox)
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    outbox.close()
    again = Outbox(tmp_path / "outbox.sqlite")
    assert client_id_suffix(again) == first
    again.close()
    other = Outbox(tmp_path / "other.sqlite")
    assert client_id_suffix(other) != first
    other.close()
