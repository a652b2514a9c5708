"""Freshness: how long what an agent said stays true, and the state an instrument shows now.

One rule for the whole collector (DESIGN.md, "Freshness, evidence and unknown time"): data is
fresh for ``stale_after`` after the agent knew it, where ``stale_after`` is the registry's
override, else what the agent's birth announced, else 2.5 x its heartbeat interval. Past that,
or once the agent is offline (its Last Will), the instrument is ``unknown``: the last known
state is never carried forward. Pure: the time is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jishi.agent.wire import DEFAULT_HEARTBEAT_INTERVAL_S, STALE_AFTER_FACTOR

UNKNOWN = "unknown"


def stale_after_s(
    *,
    override: float | None,
    announced: float | None,
    heartbeat_interval_s: float | None,
) -> float:
    """``stale_after`` of an instrument: override, else announced, else 2.5 x heartbeat."""
    for value in (override, announced):
        if value:
            return float(value)
    return STALE_AFTER_FACTOR * float(heartbeat_interval_s or DEFAULT_HEARTBEAT_INTERVAL_S)


def stale_after_of(row: Mapping[str, Any]) -> float:
    """:func:`stale_after_s` of a ledger ``instruments`` row."""
    return stale_after_s(
        override=row.get("stale_after_s"),
        announced=row.get("announced_stale_after_s"),
        heartbeat_interval_s=row.get("heartbeat_interval_s"),
    )


@dataclass(frozen=True, slots=True)
class Shown:
    """What an instrument shows now: its state and since when."""

    state: str
    since: float | None


def shown_state(
    *,
    state: str | None,
    state_since: float | None,
    last_ts: float | None,
    online: bool | None,
    online_changed_at: float | None,
    stale_s: float,
    now: float,
) -> Shown:
    """The reported state while fresh and online; else unknown, since data stopped being
    fresh or the agent went offline (whichever came first)."""
    fresh_until = None if last_ts is None else last_ts + stale_s
    if online is False:
        since = online_changed_at
        if fresh_until is not None and online_changed_at is not None:
            since = min(online_changed_at, fresh_until)
        return Shown(UNKNOWN, since)
    if state is None or fresh_until is None or now > fresh_until:
        return Shown(UNKNOWN, fresh_until)
    return Shown(state, state_since)
