"""The in-memory queue a full disk fills (issue 17, 5): order kept, states never dropped, each
instrument's latest heartbeat only."""

from __future__ import annotations

import pytest

from jishi.agent.held import HeldMessage, HeldMessages


def message(seq: int, kind: str = "state", instrument: str = "i1") -> HeldMessage:
    return HeldMessage(instrument, kind, f"t/{kind}", b"x" * 10, "boot", seq, float(seq))


@pytest.mark.parametrize(
    ("held", "kept", "dropped"),
    [
        # (kind, instrument) in order -> seqs kept in order, heartbeats dropped
        ([("state", "i1")] * 3, [0, 1, 2], 0),
        ([("hb", "i1"), ("state", "i1"), ("hb", "i1")], [1, 2], 1),
        ([("hb", "i1"), ("hb", "i2"), ("hb", "i1")], [1, 2], 1),
        ([("session", "i1"), ("hb", "i1"), ("hb", "i1"), ("hb", "i1")], [0, 3], 2),
    ],
)
def test_states_kept_heartbeats_thinned_to_latest(
    held: list[tuple[str, str]], kept: list[int], dropped: int
) -> None:
    queue = HeldMessages()
    for seq, (kind, instrument) in enumerate(held):
        queue.hold(message(seq, kind, instrument))
    out = []
    while queue.first() is not None:
        out.append(queue.pop_first().seq)
    assert out == kept
    assert queue.dropped == dropped
    assert queue.bytes == 0


def test_figures_per_instrument() -> None:
    queue = HeldMessages()
    queue.hold(message(5, instrument="i2"))
    queue.hold(message(7, instrument="i1"))
    queue.hold(message(9, instrument="i1"))
    assert (queue.count(), queue.count("i1"), queue.count("i3")) == (3, 2, 0)
    assert (queue.oldest_created("i1"), queue.oldest_created()) == (7.0, 5.0)
    assert queue.bytes == 30
