"""Node tracking: silence, sequence gaps, duplicates and reboots of sensor nodes.

Theory of operation. A pure state machine per node, fed every accepted frame with the
receive time, and asked regularly (``check``) whether a node has fallen silent.

* Sequence numbers are 16 bits and wrap. A step of one is normal; a forward step of ``k`` means
  ``k - 1`` frames were lost; a repeat or a step backwards (half the number space or more) with
  an uptime no more than ``LATE_WINDOW_S`` behind is a duplicate or a late datagram, which is
  dropped so old readings never overwrite new ones.
* A reboot is an uptime that is clearly less than the last uptime plus the time elapsed since
  (the node's clock is allowed 2 s + 2 % drift). That catches reboots even when every frame
  around one was lost; the sequence number restarts freely after a reboot.
* A node is silent when no frame came for ``silence_after_s``; its instrument then stops
  heart-beating so the collector marks it unknown (DESIGN.md, "Freshness and unknown time").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jishi.firmware_bridge.frame import SEQ_MODULUS, Frame

REBOOT_TOLERANCE_S = 2.0
REBOOT_TOLERANCE_FRACTION = 0.02
# A frame behind in sequence whose uptime is at most this much behind is a duplicate or late
# datagram, not a reboot. A node that reboots within this many seconds of uptime is then seen
# as rebooted a few frames later, by the clock rule, instead of at once.
LATE_WINDOW_S = 10


class NodeEventKind(StrEnum):
    """What the node tracker noticed about a node's frames (first seen, gaps, reboots, duplicates,
    silence)."""

    FIRST_SEEN = "first_seen"
    GAP = "gap"
    REBOOT = "reboot"
    DUPLICATE = "duplicate"
    SEQ_RESTART = "seq_restart"
    SILENT = "silent"
    RESUMED = "resumed"


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """One thing the node tracker noticed, with the frames missed where that applies."""

    kind: NodeEventKind
    node_id: int
    at: datetime
    missed: int = 0
    detail: str = ""


@dataclass
class NodeStatus:
    """What the bridge knows about one node."""

    node_id: int
    last_seq: int
    last_uptime_s: int
    last_seen: datetime
    silent: bool = False
    frames: int = 1
    missed: int = 0
    duplicates: int = 0
    reboots: int = 0


class NodeTracker:
    """Tracks every node seen; time is always an argument."""

    def __init__(
        self, silence_after_s: float, silence_by_node: Mapping[int, float] | None = None
    ) -> None:
        self.silence_after_s = silence_after_s
        self.silence_by_node = dict(silence_by_node or {})
        self.nodes: dict[int, NodeStatus] = {}

    def silence_of(self, node_id: int) -> float:
        return self.silence_by_node.get(node_id, self.silence_after_s)

    def observe(self, frame: Frame, now: datetime) -> tuple[bool, list[NodeEvent]]:
        """Record one frame; returns whether its readings should be used, and what happened."""
        node = self.nodes.get(frame.node_id)
        if node is None:
            self.nodes[frame.node_id] = NodeStatus(
                frame.node_id, frame.seq, frame.uptime_s, last_seen=now
            )
            return True, [NodeEvent(NodeEventKind.FIRST_SEEN, frame.node_id, now)]
        events: list[NodeEvent] = []
        elapsed = max(0.0, (now - node.last_seen).total_seconds())
        expected_uptime = node.last_uptime_s + elapsed
        tolerance = REBOOT_TOLERANCE_S + REBOOT_TOLERANCE_FRACTION * elapsed
        step = (frame.seq - node.last_seq) % SEQ_MODULUS
        behind = step == 0 or step >= SEQ_MODULUS // 2
        if behind and node.last_uptime_s - LATE_WINDOW_S <= frame.uptime_s <= node.last_uptime_s:
            node.duplicates += 1
            # A stale frame is not a sign of life worth resuming a silent node for.
            detail = f"seq {frame.seq} after {node.last_seq}"
            return False, [NodeEvent(NodeEventKind.DUPLICATE, frame.node_id, now, detail=detail)]
        if frame.uptime_s + tolerance < expected_uptime:
            node.reboots += 1
            events.append(
                NodeEvent(
                    NodeEventKind.REBOOT,
                    frame.node_id,
                    now,
                    detail=f"uptime {frame.uptime_s} s after {node.last_uptime_s} s "
                    f"{elapsed:.1f} s ago",
                )
            )
        elif behind:
            # Sequence went back while the uptime ran on: firmware restarted its counter without
            # a reset. Follow the new numbering rather than drop frames until it catches up.
            detail = f"seq {node.last_seq} -> {frame.seq} at uptime {frame.uptime_s} s"
            events.append(NodeEvent(NodeEventKind.SEQ_RESTART, frame.node_id, now, detail=detail))
        elif step > 1:
            node.missed += step - 1
            detail = f"seq {node.last_seq} -> {frame.seq}"
            events.append(
                NodeEvent(NodeEventKind.GAP, frame.node_id, now, missed=step - 1, detail=detail)
            )
        if node.silent:
            node.silent = False
            events.insert(0, NodeEvent(NodeEventKind.RESUMED, frame.node_id, now))
        node.last_seq, node.last_uptime_s, node.last_seen = frame.seq, frame.uptime_s, now
        node.frames += 1
        return True, events

    def check(self, now: datetime) -> list[NodeEvent]:
        """Nodes that fell silent since the last check."""
        events = []
        for node in self.nodes.values():
            if node.silent:
                continue
            if (now - node.last_seen).total_seconds() >= self.silence_of(node.node_id):
                node.silent = True
                events.append(NodeEvent(NodeEventKind.SILENT, node.node_id, now))
        return events

    def is_fresh(self, node_id: int, now: datetime) -> bool:
        node = self.nodes.get(node_id)
        if node is None or node.silent:
            return False
        return (now - node.last_seen).total_seconds() < self.silence_of(node_id)
