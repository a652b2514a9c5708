"""Node tracking: gaps, duplicates, reboots (by uptime) and silence, with time as an argument."""

from __future__ import annotations

import pytest

from jishi.firmware_bridge.frame import Frame
from jishi.firmware_bridge.tracking import NodeEvent, NodeEventKind, NodeTracker

from support.times import at


def frame(seq: int, uptime_s: int, node_id: int = 5) -> Frame:
    return Frame(node_id=node_id, seq=seq, uptime_s=uptime_s, current_ma=0, power_dw=0)


def kinds(events: list[NodeEvent]) -> list[NodeEventKind]:
    return [event.kind for event in events]


# Each case: frames as (receive time s, seq, uptime s) after a first frame (t=0, seq, uptime),
# and the expected (use?, event kinds) of the last frame.
CASES = {
    "next in sequence": ((0, 10, 100), (2, 11, 102), True, []),
    "wraps 65535 -> 0": ((0, 65535, 100), (2, 0, 102), True, []),
    "gap of 3 lost": ((0, 10, 100), (8, 14, 108), True, [NodeEventKind.GAP]),
    "gap across the wrap": ((0, 65534, 100), (6, 2, 106), True, [NodeEventKind.GAP]),
    "duplicate": ((0, 10, 100), (0.1, 10, 100), False, [NodeEventKind.DUPLICATE]),
    "late datagram": ((0, 10, 100), (0.1, 9, 98), False, [NodeEventKind.DUPLICATE]),
    "reboot, seq restarts": ((0, 500, 3600), (5, 0, 1), True, [NodeEventKind.REBOOT]),
    "reboot, seq happens to follow": ((0, 0, 3600), (5, 1, 2), True, [NodeEventKind.REBOOT]),
    # Every frame around the reboot was lost: uptime 50 s after 100 s + 300 s elapsed.
    "reboot seen only by elapsed time": ((0, 7, 100), (300, 20, 50), True, [NodeEventKind.REBOOT]),
    "counter restarted, uptime ran on": (
        (0, 900, 100),
        (2, 0, 102),
        True,
        [NodeEventKind.SEQ_RESTART],
    ),
    # A node clock 1 % slow over an hour is not a reboot.
    "slow node clock": ((0, 7, 100), (3600, 1807, 100 + 3564), True, [NodeEventKind.GAP]),
}


@pytest.mark.parametrize(("first", "last", "use", "expected"), CASES.values(), ids=CASES.keys())
def test_observe(
    first: tuple[float, int, int],
    last: tuple[float, int, int],
    use: bool,
    expected: list[NodeEventKind],
) -> None:
    tracker = NodeTracker(silence_after_s=1000)
    used, events = tracker.observe(frame(first[1], first[2]), at(first[0]))
    assert used
    assert kinds(events) == [NodeEventKind.FIRST_SEEN]
    used, events = tracker.observe(frame(last[1], last[2]), at(last[0]))
    assert used is use
    assert kinds(events) == expected


def test_gap_counts_missed_frames() -> None:
    tracker = NodeTracker(silence_after_s=60)
    tracker.observe(frame(65534, 100), at(0))
    _, events = tracker.observe(frame(2, 106), at(6))
    assert events[0].missed == 3
    tracker.observe(frame(10, 122), at(22))
    status = tracker.nodes[5]
    assert (status.missed, status.frames, status.duplicates, status.reboots) == (10, 3, 0, 0)


def test_silence_and_resume() -> None:
    tracker = NodeTracker(silence_after_s=10, silence_by_node={9: 30})
    tracker.observe(frame(1, 1, node_id=5), at(0))
    tracker.observe(frame(1, 1, node_id=9), at(0))
    assert tracker.check(at(9.9)) == []
    assert tracker.is_fresh(5, at(9.9))
    events = tracker.check(at(10))
    assert [(e.kind, e.node_id) for e in events] == [(NodeEventKind.SILENT, 5)]
    assert not tracker.is_fresh(5, at(10))
    assert tracker.is_fresh(9, at(10))
    assert tracker.check(at(20)) == []  # reported once
    # A duplicate is no sign of life.
    used, events = tracker.observe(frame(1, 1, node_id=5), at(21))
    assert not used
    assert not tracker.is_fresh(5, at(21))
    used, events = tracker.observe(frame(2, 23, node_id=5), at(22))
    assert used
    assert kinds(events) == [NodeEventKind.RESUMED]
    assert tracker.is_fresh(5, at(22))
    assert [e.node_id for e in tracker.check(at(30))] == [9]
    assert not tracker.is_fresh(77, at(30))


def test_resume_after_reboot_reports_both() -> None:
    tracker = NodeTracker(silence_after_s=10)
    tracker.observe(frame(40, 4000), at(0))
    tracker.check(at(15))
    _, events = tracker.observe(frame(0, 3), at(60))
    assert kinds(events) == [NodeEventKind.RESUMED, NodeEventKind.REBOOT]
    assert tracker.nodes[5].reboots == 1
