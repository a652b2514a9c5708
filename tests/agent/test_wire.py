"""Wire schema: round trips, topic parsing, strictness where it matters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from jishi.agent import messages, wire
from jishi.agent.wire import MessageKind

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
ENVELOPE = {
    "instrument": "nmr-600",
    "site": "lab",
    "boot_id": "0123456789abcdef",
    "seq": 7,
    "ts": T0,
}


@pytest.mark.parametrize(
    "message",
    [
        wire.StatusMessage(**ENVELOPE, online=True, heartbeat_interval_s=30, agent_version="0.1.0"),
        wire.StatusMessage(**ENVELOPE, online=False),
        wire.StateMessage(
            **ENVELOPE,
            state="running",
            previous="idle",
            since=T0,
            readings={"power_w": 812.5, "ok": True},
        ),
        wire.HeartbeatMessage(
            **ENVELOPE,
            state="idle",
            since=T0 - timedelta(hours=1),
            health=wire.AgentHealth(outbox_depth=3, dropped=1),
        ),
        wire.SessionMessage(
            **ENVELOPE, event="start", session_id="s-1", user="li", user_type="external"
        ),
    ],
)
def test_round_trip(message: wire.Message) -> None:
    payload = wire.encode(message)
    assert json.loads(payload)["schema"] == wire.SCHEMA_VERSION
    assert wire.decode(message.kind, payload) == message
    assert wire.decode_any(payload) == message


def test_timestamps_are_utc_with_z() -> None:
    shanghai = timezone(timedelta(hours=8))
    message = wire.StateMessage(
        **{**ENVELOPE, "ts": T0.astimezone(shanghai)}, state="off", since=T0
    )
    data = json.loads(wire.encode(message))
    assert data["ts"] == "2026-03-01T08:30:00.000Z"
    assert data["since"] == "2026-03-01T08:30:00.000Z"


def test_collector_accepts_unknown_extra_fields() -> None:
    payload = wire.encode(wire.StateMessage(**ENVELOPE, state="idle", since=T0))
    data = json.loads(payload) | {"from_the_future": 1}
    assert wire.decode("state", json.dumps(data)).state == wire.InstrumentState.IDLE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "unknown"}, "state"),  # unknown is collector-derived only
        ({"seq": -1}, "seq"),
        ({"ts": "2026-03-01T08:30:00"}, "ts"),  # naive time is ambiguous
        ({"instrument": "a/b"}, "instrument"),
        ({"boot_id": "short"}, "boot_id"),
    ],
)
def test_rejects_bad_fields(change: dict[str, object], field: str) -> None:
    data = json.loads(wire.encode(wire.StateMessage(**ENVELOPE, state="idle", since=T0))) | change
    with pytest.raises(ValidationError) as info:
        wire.decode("state", json.dumps(data))
    assert field in str(info.value)


def test_historical_flag_rewrite() -> None:
    payload = wire.encode(
        wire.HeartbeatMessage(**ENVELOPE, state="idle", since=T0, readings={"historical": False})
    )
    rewritten = json.loads(messages.with_historical(payload))
    assert rewritten["historical"] is True
    assert rewritten["readings"] == {"historical": False}
    assert rewritten == json.loads(payload) | {"historical": True}


def test_topics() -> None:
    topic = wire.build_topic("lab", "nmr-600", MessageKind.HEARTBEAT)
    assert topic == "jishi/v1/lab/nmr-600/hb"
    parsed = wire.parse_topic(topic)
    assert (parsed.site, parsed.instrument, parsed.kind) == (
        "lab",
        "nmr-600",
        MessageKind.HEARTBEAT,
    )
    assert str(parsed) == topic
    assert wire.parse_topic("x/y/lab/i1/state", root="x/y").instrument == "i1"
    assert wire.subscription(share_group="g1") == "$share/g1/jishi/v1/#"


@pytest.mark.parametrize(
    "topic",
    [
        "jishi/v1/lab/nmr/other",
        "jishi/v1/lab/nmr",
        "jishi/v2/lab/nmr/hb",
        "jishi/v1/lab/n+1/hb",
        "jishi/v1/lab/a/b/hb",
    ],
)
def test_bad_topics(topic: str) -> None:
    with pytest.raises(wire.TopicError):
        wire.parse_topic(topic)


def test_build_topic_rejects_wildcards() -> None:
    with pytest.raises(wire.TopicError):
        wire.build_topic("lab", "#", MessageKind.STATE)


def test_json_schema_names_every_kind() -> None:
    schemas = wire.json_schemas()
    assert set(schemas) == {"status", "state", "hb", "session"}
    for schema in schemas.values():
        assert {"schema", "instrument", "site", "boot_id", "seq", "ts", "historical"} <= set(
            schema["properties"]
        )
