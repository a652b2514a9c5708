"""Exponential backoff with jitter for the sink's write retries (pure; the caller sleeps)."""

from __future__ import annotations

import random


class Backoff:
    """``min_s``, then doubling up to ``max_s``; +-``jitter`` so many collectors do not retry in
    step after a shared InfluxDB comes back."""

    def __init__(
        self,
        min_s: float,
        max_s: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.attempts = 0

    def next_delay(self) -> float:
        base = min(self.max_s, self.min_s * self.factor**self.attempts)
        self.attempts += 1
        spread = base * self.jitter
        return max(0.0, min(self.max_s, base + self._rng.uniform(-spread, spread)))

    def reset(self) -> None:
        self.attempts = 0
