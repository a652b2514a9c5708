"""Exponential back-off with jitter: the one retry-delay rule of every jishi process (pure).

Every retry loop (the agent's broker reconnects, the collector's ledger and InfluxDB retries,
the bridge's serial port reopening) waits ``minimum * factor ** attempt``, capped at
``maximum``. ``jitter`` lowers each wait by a random part of up to that fraction, so a fleet of
agents (or several collectors sharing one database) does not retry in lockstep after an outage;
a wait never exceeds ``maximum``. The caller sleeps: nothing here reads a clock.
"""

from __future__ import annotations

import random
from dataclasses import KW_ONLY, dataclass, field

# 2.0 ** 64 times any sensible minimum is past any maximum; the cap keeps the float finite.
_MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    minimum: float,
    maximum: float,
    *,
    factor: float = 2.0,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """The wait before retry ``attempt`` (0 for the first): somewhere in
    ``[(1 - jitter) * ceiling, ceiling]``, ``ceiling = min(maximum, minimum * factor**attempt)``."""
    ceiling = min(maximum, minimum * factor ** min(max(attempt, 0), _MAX_EXPONENT))
    if jitter <= 0:
        return ceiling
    draw = (rng or random).random()
    return ceiling * (1.0 - jitter + jitter * draw)


@dataclass
class Backoff:
    """Failures in a row: :meth:`next_delay` after each one, :meth:`reset` after a success."""

    min_s: float
    max_s: float
    _: KW_ONLY
    factor: float = 2.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        delay = backoff_delay(
            self.attempts,
            self.min_s,
            self.max_s,
            factor=self.factor,
            jitter=self.jitter,
            rng=self.rng,
        )
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
