"""The bridge core: frames and Sparkplug messages become canonical status/state/hb messages;
silence stops heartbeats; config errors name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jishi.agent.messages import (
    HeartbeatMessage,
    InstrumentState,
    MessageKind,
    StateMessage,
    StatusMessage,
)
from jishi.config import validate_table
from jishi.errors import ConfigErrors
from jishi.firmware_bridge.config import BridgeConfig, load_bridge_config
from jishi.firmware_bridge.core import BridgeCore, Outgoing
from jishi.firmware_bridge.frame import Frame, StatusFlag
from jishi.firmware_bridge.sparkplug_edge import EdgeNode

from support.bridge import THRESHOLD, sparkplug_meter
from support.times import T0, at
from support.wire_agreement import read_back

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bridge.toml"


def config(**extra: Any) -> BridgeConfig:
    data: dict[str, Any] = {
        "site": "lab",
        "heartbeat_interval_s": 10,
        "silence_after_s": 5,
        "udp": {"port": 47800},
        "nodes": [
            {
                "node_id": "0x1A2B3C4D",
                "instrument": "hplc-02",
                "rules": {
                    "threshold": [THRESHOLD],
                    "discrete": [{"reading": "alarm_input", "states": {"true": "fault"}}],
                },
            }
        ],
        **extra,
    }
    return validate_table("bridge.toml", BridgeConfig, data)


def frame(seq: int, power_w: float, flags: StatusFlag = StatusFlag.NONE) -> Frame:
    return Frame(
        node_id=0x1A2B3C4D,
        seq=seq,
        uptime_s=100 + seq,
        current_ma=int(power_w / 0.23),
        power_dw=int(power_w * 10),
        flags=flags,
    )


def kinds(out: list[Outgoing]) -> list[MessageKind]:
    return [o.kind for o in out]


def test_example_config_loads() -> None:
    cfg, digest = load_bridge_config(EXAMPLE)
    assert [i.instrument for i in cfg.all_instruments()] == [
        "hplc-02",
        "centrifuge-07",
        "icp-ms-01",
    ]
    assert cfg.nodes[0].node_id == 0x1A2B3C4D
    assert len(digest) == 12


@pytest.mark.parametrize(
    ("patch", "key", "problem"),
    [
        ({"udp": None}, "(top level)", "no [[serial]] port or [udp] listener"),
        ({"nodes": [{"node_id": "zz", "instrument": "a"}]}, "nodes[0].node_id", "not a number"),
        ({"nodes": [{"node_id": 2**32, "instrument": "a"}]}, "nodes[0].node_id", "less than"),
        (
            {"nodes": [{"node_id": 1, "instrument": "a"}, {"node_id": 1, "instrument": "b"}]},
            "(top level)",
            "appears twice",
        ),
        ({"nodes": [{"node_id": 1, "instrument": "a b"}]}, "nodes[0].instrument", "pattern"),
    ],
)
def test_config_errors_name_the_key(patch: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        config(**patch)
    assert any(e.key == key and problem in e.problem for e in caught.value.errors), str(
        caught.value
    )


def test_frames_to_states_and_heartbeats() -> None:
    core = BridgeCore(config(), boot_at=T0, boot_id="boot-0001")
    out = core.on_frame(frame(0, 120.0), at(0), "udp:47800")
    assert kinds(out) == [MessageKind.STATE, MessageKind.HEARTBEAT]
    state = out[0].message
    assert isinstance(state, StateMessage)
    assert (state.state, state.since, state.readings["power_w"]) == (
        InstrumentState.IDLE,
        at(0),
        120.0,
    )
    assert core.on_frame(frame(1, 125.0), at(1)) == []
    out = core.on_frame(frame(2, 850.0), at(2))
    assert kinds(out) == [MessageKind.STATE]
    assert out[0].message.state is InstrumentState.RUNNING  # type: ignore[union-attr]  # the message kind is asserted by the test
    # Heartbeats every 10 s while frames keep coming.
    for second in range(3, 11):
        out = core.on_frame(frame(second, 850.0), at(second))
        assert out == [] or second == 10
    assert kinds(out) == [MessageKind.HEARTBEAT]
    hb = out[0].message
    assert isinstance(hb, HeartbeatMessage)
    assert (hb.state, hb.since, hb.interval_s) == (InstrumentState.RUNNING, at(2), 10)
    assert "node-0x1A2B3C4D" in hb.health.sources
    # Every message round-trips through the wire schema; seq strictly increases.
    seqs = []
    for item in [*core.on_frame(frame(11, 0.0), at(11)), *core.tick(at(20))]:
        read_back(item.message)
        seqs.append(item.message.seq)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


def test_silence_stops_heartbeats_and_resume_sends_one_at_once() -> None:
    core = BridgeCore(config(), boot_at=T0, boot_id="boot-0001")
    core.on_frame(frame(0, 850.0), at(0))
    assert core.tick(at(4)) == []
    # Silent from 5 s: the heartbeat due at 10 s is not sent, nor any later.
    assert core.tick(at(10)) == []
    assert core.tick(at(60)) == []
    assert core.snapshot(at(60))["nodes"]["0x1A2B3C4D"]["silent"] is True
    out = core.on_frame(frame(1, 850.0), at(61))
    assert kinds(out) == [MessageKind.HEARTBEAT]
    assert out[0].message.ts == at(61)


def test_alarm_flag_is_fault_and_sensor_fault_is_a_read_error() -> None:
    core = BridgeCore(config(), boot_at=T0, boot_id="boot-0001")
    core.on_frame(frame(0, 120.0), at(0))
    out = core.on_frame(frame(1, 120.0, StatusFlag.ALARM_INPUT), at(1))
    assert [o.message.state for o in out] == [InstrumentState.FAULT]  # type: ignore[union-attr]  # the message kind is asserted by the test
    out = core.on_frame(frame(2, 0.0, StatusFlag.SENSOR_FAULT), at(2))
    assert out == []
    inst = core.instruments["hplc-02"]
    assert (inst.read_errors, inst.inferrer.state) == (1, InstrumentState.FAULT)


def test_unmapped_node_is_counted_not_published() -> None:
    core = BridgeCore(config(), boot_at=T0, boot_id="boot-0001")
    other = Frame(node_id=99, seq=0, uptime_s=1, current_ma=0, power_dw=0)
    assert core.on_frame(other, at(0)) == []
    assert core.unmapped_frames == 1


def test_sparkplug_birth_data_death() -> None:
    cfg = config(sparkplug={"instruments": [sparkplug_meter("Power")]})
    core = BridgeCore(cfg, boot_at=T0, boot_id="boot-0001")
    edge = EdgeNode("Lab", "gw1")
    assert core.on_sparkplug(*edge.birth({"Uptime": 1}, at(0)), at(0)) == ([], [])
    assert core.status("icp-ms-01", at(0)).online is False  # not born yet
    out, commands = core.on_sparkplug(*edge.device_birth("meter3", {"Power": 900.0}, at(1)), at(1))
    assert commands == []
    assert kinds(out) == [MessageKind.STATUS, MessageKind.STATE, MessageKind.HEARTBEAT]
    status = out[0].message
    assert isinstance(status, StatusMessage)
    assert (status.online, status.heartbeat_interval_s) == (True, 10)
    assert out[1].message.state is InstrumentState.RUNNING  # type: ignore[union-attr]  # the message kind is asserted by the test
    # Report by exception: no data for a minute still heart-beats.
    assert kinds(core.tick(at(61))) == [MessageKind.HEARTBEAT]
    out, _ = core.on_sparkplug(*edge.death(), at(62))
    assert kinds(out) == [MessageKind.STATUS]
    assert out[0].message.online is False  # type: ignore[union-attr]  # the message kind is asserted by the test
    assert core.tick(at(120)) == []


def test_sparkplug_node_silence_stops_heartbeats_and_data_resumes_them() -> None:
    cfg = config(sparkplug={"silence_after_s": 30, "instruments": [sparkplug_meter("Power")]})
    core = BridgeCore(cfg, boot_at=T0, boot_id="boot-0001")
    edge = EdgeNode("Lab", "gw1")
    core.on_sparkplug(*edge.birth({"Uptime": 1}, at(0)), at(0))
    core.on_sparkplug(*edge.device_birth("meter3", {"Power": 900.0}, at(1)), at(1))
    assert kinds(core.tick(at(11))) == [MessageKind.HEARTBEAT]
    assert kinds(core.tick(at(21))) == [MessageKind.HEARTBEAT]
    # Nothing from the edge node since 1 s: silent at 31 s, no status, no more heartbeats.
    assert core.tick(at(31)) == []
    assert core.tick(at(300)) == []
    assert core.snapshot(at(300))["instruments"]["icp-ms-01"]["alive"] is False
    assert core.status("icp-ms-01", at(300)).online is True  # silent is unknown, not dead
    # A sign of life in sequence (even a metric no instrument uses) brings heartbeats back.
    out, commands = core.on_sparkplug(*edge.data({"Uptime": 2}, at(301)), at(301))
    assert (out, commands) == ([], [])
    assert kinds(core.tick(at(301))) == [MessageKind.HEARTBEAT]
