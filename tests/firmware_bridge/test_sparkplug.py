"""The Sparkplug B host state machine: births, aliases, data, deaths, bdSeq, seq gaps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jishi.firmware_bridge.sparkplug import (
    REBIRTH_METRIC,
    HostEventKind,
    HostOutput,
    MetricMap,
    SparkplugHost,
)
from jishi.firmware_bridge.sparkplug_edge import EdgeNode
from jishi.firmware_bridge.sparkplug_pb import DataType, Payload
from jishi.firmware_bridge.sparkplug_wire import (
    SparkplugTopic,
    SparkplugTopicError,
    metric_value,
    parse_topic,
    state_payload,
    state_topic,
)

from support.times import at

MAPS = [
    MetricMap("hplc-01", "Lab", "gw1", None, {"power_w": "Meter/Power", "alarm": "Alarm"}),
    MetricMap("nmr-600", "Lab", "gw1", "rack2", {"current_a": "I_rms"}),
]


def feed(host: SparkplugHost, message: tuple[str, bytes], seconds: float) -> HostOutput:
    return host.handle(message[0], message[1], at(seconds))


def updates(out: HostOutput) -> list[tuple[str, dict[str, object]]]:
    return [(u.instrument, dict(u.values)) for u in out.updates]


def online(out: HostOutput) -> list[tuple[str, bool]]:
    return [(o.instrument, o.online) for o in out.online]


def born() -> tuple[SparkplugHost, EdgeNode]:
    host = SparkplugHost(MAPS, rebirth_min_interval_s=5)
    edge = EdgeNode("Lab", "gw1", bd_seq=3)
    out = feed(host, edge.birth({"Meter/Power": 120.5, "Alarm": False, "Other": 1}, at(0)), 0)
    assert updates(out) == [("hplc-01", {"power_w": 120.5, "alarm": False})]
    assert online(out) == [("hplc-01", True)]
    out = feed(host, edge.device_birth("rack2", {"I_rms": 0.04}, at(1)), 1)
    assert updates(out) == [("nmr-600", {"current_a": 0.04})]
    assert online(out) == [("nmr-600", True)]
    return host, edge


def test_topics() -> None:
    assert parse_topic("spBv1.0/Lab/NDATA/gw1") == SparkplugTopic("Lab", "NDATA", "gw1")
    assert parse_topic("spBv1.0/Lab/DDATA/gw1/rack2") == SparkplugTopic(
        "Lab", "DDATA", "gw1", "rack2"
    )
    assert parse_topic("spBv1.0/STATE/host1").message_type == "STATE"
    for bad in ("spBv1.0/Lab/NDATA/gw1/dev", "spBv1.0/Lab/XDATA/gw1", "jishi/v1/a/b/hb"):
        with pytest.raises(SparkplugTopicError):
            parse_topic(bad)


def test_births_and_data_by_alias() -> None:
    host, edge = born()
    topic, payload = edge.data({"Meter/Power": 850.0}, at(2))
    assert Payload.FromString(payload).metrics[0].name == ""  # alias only
    out = host.handle(topic, payload, at(2))
    assert updates(out) == [("hplc-01", {"power_w": 850.0})]
    assert out.updates[0].ts == at(2)
    out = feed(host, edge.data({"I_rms": 3.2}, at(3), device="rack2"), 3)
    assert updates(out) == [("nmr-600", {"current_a": 3.2})]
    out = feed(host, edge.data({"Other": 5}, at(4)), 4)  # not mapped
    assert out == HostOutput()


def test_seq_wraps_at_255() -> None:
    host, edge = born()
    for second in range(2, 400):
        out = feed(host, edge.data({"Meter/Power": float(second)}, at(second)), second)
        assert out.commands == [], second
    assert edge.seq == (1 + 398) % 256


def test_seq_gap_requests_rebirth_once_and_drops_data_until_birth() -> None:
    host, edge = born()
    edge.skip()
    out = feed(host, edge.data({"Meter/Power": 900.0}, at(2)), 2)
    assert out.updates == []
    assert [e.kind for e in out.events] == [
        HostEventKind.SEQ_GAP,
        HostEventKind.REBIRTH_REQUESTED,
    ]
    [command] = out.commands
    assert command.topic == "spBv1.0/Lab/NCMD/gw1"
    request = Payload.FromString(command.payload)
    assert [(m.name, m.datatype, m.boolean_value) for m in request.metrics] == [
        (REBIRTH_METRIC, DataType.BOOLEAN, True)
    ]
    # Further data before the rebirth is dropped; the request is not repeated within 5 s.
    out = feed(host, edge.data({"Meter/Power": 910.0}, at(3)), 3)
    assert (out.updates, out.commands) == ([], [])
    assert out.events[0].kind is HostEventKind.NOT_BORN
    out = feed(host, edge.data({"Meter/Power": 920.0}, at(8)), 8)
    assert len(out.commands) == 1
    # The node answers with a new birth (same bdSeq: same MQTT session) and data flows again.
    out = feed(host, edge.birth({"Meter/Power": 930.0, "Alarm": True}, at(9)), 9)
    assert updates(out) == [("hplc-01", {"power_w": 930.0, "alarm": True})]
    out = feed(host, edge.data({"Meter/Power": 940.0}, at(10)), 10)
    assert updates(out) == [("hplc-01", {"power_w": 940.0})]
    # Devices must be born again after a node birth.
    out = feed(host, edge.data({"I_rms": 1.0}, at(11), device="rack2"), 11)
    assert out.updates == []
    assert HostEventKind.NOT_BORN in [e.kind for e in out.events]


def test_data_before_any_birth_requests_rebirth_for_mapped_nodes_only() -> None:
    host = SparkplugHost(MAPS)
    stranger = EdgeNode("Lab", "gw9")
    stranger.birth({"x": 1}, at(0))  # the host never saw this birth
    out = feed(host, stranger.data({"x": 2}, at(1)), 1)
    assert out.commands == []
    edge = EdgeNode("Lab", "gw1")
    edge.birth({"Meter/Power": 1.0}, at(0))
    out = feed(host, edge.data({"Meter/Power": 2.0}, at(1)), 1)
    assert [c.topic for c in out.commands] == ["spBv1.0/Lab/NCMD/gw1"]


def test_ndeath_with_matching_bdseq_takes_node_and_devices_offline() -> None:
    host, edge = born()
    out = feed(host, edge.death(), 5)
    assert sorted(online(out)) == [("hplc-01", False), ("nmr-600", False)]


def test_stale_ndeath_is_ignored() -> None:
    host, _edge = born()
    old_will = EdgeNode("Lab", "gw1", bd_seq=2).death()
    out = feed(host, old_will, 5)
    assert out.online == []
    assert [e.kind for e in out.events] == [HostEventKind.STALE_DEATH]


def test_ddeath_takes_one_device_offline() -> None:
    host, edge = born()
    out = feed(host, edge.device_death("rack2", at(5)), 5)
    assert online(out) == [("nmr-600", False)]
    out = feed(host, edge.data({"Meter/Power": 3.0}, at(6)), 6)
    assert updates(out) == [("hplc-01", {"power_w": 3.0})]


def test_bad_payload_and_own_commands() -> None:
    host, _ = born()
    out = host.handle("spBv1.0/Lab/NDATA/gw1", b"\xff\xff\xff", at(3))
    assert [e.kind for e in out.events] == [HostEventKind.BAD_PAYLOAD]
    out = host.handle("spBv1.0/Lab/NCMD/gw1", b"", at(3))
    assert out == HostOutput()


def test_future_timestamps_fall_back_to_receive_time() -> None:
    host, edge = born()
    out = feed(host, edge.data({"Meter/Power": 1.0}, at(86_400)), 2)
    assert out.updates[0].ts == at(2)


@pytest.mark.parametrize(
    ("datatype", "field", "raw", "expected"),
    [
        (DataType.INT8, "int_value", 0xFFFFFFFF, -1),
        (DataType.INT8, "int_value", 0xFF, -1),
        (DataType.INT16, "int_value", 0xFFFF8000, -32768),
        (DataType.INT32, "int_value", 0x80000000, -(2**31)),
        (DataType.INT64, "long_value", 2**64 - 5, -5),
        (DataType.UINT32, "int_value", 0xFFFFFFFF, 2**32 - 1),
        (DataType.UINT64, "long_value", 2**64 - 1, 2**64 - 1),
        (DataType.FLOAT, "float_value", 1.5, 1.5),
        (DataType.BOOLEAN, "boolean_value", True, True),
        (DataType.STRING, "string_value", "RUN", "RUN"),
    ],
)
def test_metric_values(datatype: DataType, field: str, raw: object, expected: object) -> None:
    metric = Payload().metrics.add(datatype=datatype, **{field: raw})
    assert metric_value(metric, datatype) == expected


def test_null_metric() -> None:
    metric = Payload().metrics.add(datatype=DataType.DOUBLE, is_null=True)
    assert metric_value(metric, DataType.DOUBLE) is None


# --- silence (issue 17 item 7): a node that sends nothing is no longer fresh -----------------

SILENCE_S = 60


def quiet_host() -> tuple[SparkplugHost, EdgeNode]:
    """Born at 0 s (NBIRTH) and 1 s (DBIRTH rack2), with a 60 s silence limit."""
    host = SparkplugHost(MAPS, rebirth_min_interval_s=5, silence_after_s=SILENCE_S)
    edge = EdgeNode("Lab", "gw1", bd_seq=3)
    feed(host, edge.birth({"Meter/Power": 1.0, "Alarm": False}, at(0)), 0)
    feed(host, edge.device_birth("rack2", {"I_rms": 0.04}, at(1)), 1)
    return host, edge


def stale_will(_edge: EdgeNode, ts: float) -> tuple[str, bytes]:
    return EdgeNode("Lab", "gw1", bd_seq=2).death()


@pytest.mark.parametrize(
    ("label", "messages", "check_at", "fresh"),
    [
        ("births only, within the limit", [], 60, True),
        ("births only, limit reached", [], 61, False),
        ("NDATA at 30 s", [lambda e, t: e.data({"Meter/Power": 2.0}, at(t))], 61, True),
        ("NDATA at 30 s, limit reached", [lambda e, t: e.data({"Alarm": True}, at(t))], 90, False),
        ("DDATA at 30 s", [lambda e, t: e.data({"I_rms": 1.0}, at(t), device="rack2")], 89, True),
        (
            "DDEATH at 30 s is the node's own",
            [lambda e, t: e.device_death("rack2", at(t))],
            89,
            True,
        ),
        ("NBIRTH at 30 s", [lambda e, t: e.birth({"Meter/Power": 3.0}, at(t))], 89, True),
        ("a stale NDEATH is no sign of life", [stale_will], 61, False),
    ],
)
def test_silence_table(
    label: str,
    messages: list[Any],
    check_at: float,
    fresh: bool,
) -> None:
    host, edge = quiet_host()
    for message in messages:
        feed(host, message(edge, 30), 30)
    events = host.check(at(check_at))
    assert host.is_fresh("Lab", "gw1", at(check_at)) is fresh, label
    assert [e.kind for e in events] == ([] if fresh else [HostEventKind.SILENT]), label


def test_silence_is_reported_once_and_data_in_sequence_resumes_without_rebirth() -> None:
    host, edge = quiet_host()
    assert [e.kind for e in host.check(at(61))] == [HostEventKind.SILENT]
    assert host.check(at(200)) == []
    out = feed(host, edge.data({"Meter/Power": 5.0}, at(300)), 300)
    assert updates(out) == [("hplc-01", {"power_w": 5.0})]
    assert [e.kind for e in out.events] == [HostEventKind.RESUMED]
    assert out.commands == []
    assert host.is_fresh("Lab", "gw1", at(300))


def test_only_configured_nodes_are_reported_silent() -> None:
    host, _edge = quiet_host()
    stranger = EdgeNode("Lab", "gw9")
    feed(host, stranger.birth({"x": 1}, at(0)), 0)
    events = host.check(at(61))
    assert [(e.kind, e.topic) for e in events] == [(HostEventKind.SILENT, "spBv1.0/Lab/+/gw1")]


def test_a_dead_node_is_not_fresh_nor_reported_silent() -> None:
    host, edge = quiet_host()
    feed(host, edge.death(), 10)
    assert not host.is_fresh("Lab", "gw1", at(11))
    assert host.check(at(100)) == []


# --- no rebirth requests to dead nodes (issue 17 item 7) -------------------------------------


@pytest.mark.parametrize(
    "late",
    [
        lambda e: e.data({"Meter/Power": 7.0}, at(20)),
        lambda e: e.data({"I_rms": 2.0}, at(20), device="rack2"),
        lambda e: e.device_birth("rack2", {"I_rms": 2.0}, at(20)),
        lambda e: e.device_death("rack2", at(20)),
    ],
    ids=["NDATA", "DDATA", "DBIRTH", "DDEATH"],
)
def test_no_rebirth_request_to_a_node_dead_by_a_valid_ndeath(late: Any) -> None:
    host, edge = born()
    feed(host, edge.death(), 5)
    for second in (10, 20, 30):  # well past rebirth_min_interval_s
        out = feed(host, late(edge), second)
        assert (out.commands, out.updates, out.online) == ([], [], [])
        assert [e.kind for e in out.events] == [HostEventKind.AFTER_DEATH]
    # Its next session opens with an NBIRTH: alive again, and data is trusted.
    edge.next_session()
    out = feed(host, edge.birth({"Meter/Power": 8.0}, at(40)), 40)
    assert online(out) == [("hplc-01", True)]
    out = feed(host, edge.data({"Meter/Power": 9.0}, at(41)), 41)
    assert updates(out) == [("hplc-01", {"power_w": 9.0})]
    out = feed(host, edge.data({"I_rms": 1.0}, at(42), device="rack2"), 42)
    assert len(out.commands) == 1  # alive but rack2 not yet born in this session: ask


def test_after_the_hosts_reconnection_a_dead_node_may_be_asked_again() -> None:
    host, edge = born()
    feed(host, edge.death(), 5)
    assert feed(host, edge.data({"Meter/Power": 7.0}, at(10)), 10).commands == []
    # While the host was away the node may have reconnected and been born unseen.
    host.reconnected()
    out = feed(host, edge.data({"Meter/Power": 7.0}, at(20)), 20)
    assert [c.topic for c in out.commands] == ["spBv1.0/Lab/NCMD/gw1"]


def test_primary_host_state_topic_and_payloads() -> None:
    assert state_topic("jishi-host") == "spBv1.0/STATE/jishi-host"
    assert json.loads(state_payload(online=True, timestamp_ms=1_700_000_000_123)) == {
        "online": True,
        "timestamp": 1_700_000_000_123,
    }
    assert json.loads(state_payload(online=False, timestamp_ms=5)) == {
        "online": False,
        "timestamp": 5,
    }
