"""How far an agent's clock is off, estimated from its live messages (pure).

Instrument PCs often keep wrong time, and a wrong clock misdates every state (DESIGN.md: the
agent dates what it saw). The heartbeat's ``clock_offset_s`` is left to the collector, which
sees each live message at a known time of its own.

A live message (not ``historical``) was sent at the agent's ``ts`` and received at the
collector's ``received``: ``ts - received = offset - delay``, where the delay (network, broker,
a short wait in the outbox) is never negative. The largest recent sample is therefore the best
estimate of the offset: a sample above the estimate replaces it at once, one below pulls it
down slowly (a corrected clock shows within a few dozen messages, while one slow delivery
barely moves it).
"""

from __future__ import annotations

# How much of the way to a lower sample the estimate moves per message.
DECAY = 0.1


def next_offset(previous: float | None, ts: float, received: float) -> float:
    """The estimate after one more live message sent at ``ts`` (agent clock) and received at
    ``received`` (collector clock); positive when the agent's clock is ahead."""
    sample = ts - received
    if previous is None or sample >= previous:
        return sample
    return previous + DECAY * (sample - previous)
