"""The one back-off rule: doubling to a cap, jitter only ever below the ceiling."""

from __future__ import annotations

import random

import pytest

from jishi.backoff import Backoff, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "minimum", "maximum", "expected"),
    [
        (0, 0.2, 10.0, 0.2),
        (1, 0.2, 10.0, 0.4),
        (5, 0.2, 10.0, 6.4),
        (6, 0.2, 10.0, 10.0),
        (10_000, 1.0, 60.0, 60.0),  # no overflow however long the outage
        (-1, 1.0, 60.0, 1.0),
    ],
)
def test_without_jitter_the_delay_doubles_to_the_cap(
    attempt: int, minimum: float, maximum: float, expected: float
) -> None:
    assert backoff_delay(attempt, minimum, maximum) == pytest.approx(expected)


def test_jitter_stays_between_its_fraction_and_the_ceiling() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(3, 1.0, 60.0, jitter=0.5, rng=rng) for _ in range(500)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 4.5 and max(delays) > 7.5  # spread over the whole range
    assert all(backoff_delay(20, 1.0, 60.0, jitter=0.1) <= 60.0 for _ in range(100))


def test_the_agent_links_draw_is_unchanged() -> None:
    """Same seed, same delays as the link's own formula before it moved here."""
    ours, theirs = random.Random(3), random.Random(3)
    for attempt in range(8):
        ceiling = min(60.0, 1.0 * 2.0**attempt)
        assert backoff_delay(attempt, 1.0, 60.0, jitter=0.5, rng=ours) == pytest.approx(
            ceiling * (0.5 + 0.5 * theirs.random())
        )


def test_backoff_counts_failures_and_resets() -> None:
    backoff = Backoff(0.2, 10.0)
    assert [backoff.next_delay() for _ in range(8)] == pytest.approx(
        [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    )
    backoff.reset()
    assert backoff.next_delay() == 0.2
