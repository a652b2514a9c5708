"""The clock-offset estimate: the largest recent ``ts - received`` of live messages."""

from __future__ import annotations

import pytest

from jishi.collector.ledger.clocks import DECAY, next_offset


@pytest.mark.parametrize(
    ("previous", "ts", "received", "expected"),
    [
        (None, 1000.0, 700.0, 300.0),  # first message: agent 300 s ahead, no delay
        (300.0, 1010.0, 711.0, 300.0 + DECAY * (299.0 - 300.0)),  # 1 s late: barely moves
        (299.0, 1020.0, 720.0, 300.0),  # a faster delivery raises it at once
        (None, 700.0, 1000.0, -300.0),  # agent 300 s behind
    ],
)
def test_next_offset(previous: float | None, ts: float, received: float, expected: float) -> None:
    assert next_offset(previous, ts, received) == pytest.approx(expected)


def test_a_corrected_clock_shows_within_a_few_dozen_messages() -> None:
    estimate: float | None = 300.0
    for k in range(60):
        estimate = next_offset(estimate, 2000.0 + k, 2000.0 + k + 0.05)
    assert estimate is not None and abs(estimate) < 1.0
