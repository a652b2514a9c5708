"""What the stored messages prove: claims, their ranks, Last Wills, and the timeline they give.

Theory of operation (DESIGN.md, "Freshness, evidence and unknown time"):

* Every ``state`` and ``hb`` message is a :class:`Claim`: the instrument was in ``state`` over
  ``[start, end)`` (:func:`claim_span`):

  - a heartbeat at ``ts``: ``[ts, ts + stale_after)``;
  - a state change that began at ``since`` and that the agent knew at ``ts`` (a reading, or a
    record read however late): ``[since, ts + stale_after)``. The agent's next messages carry
    it on; until they come, it is fresh as long as what the agent knew at ``ts``;
  - a record with both ends (``until``): exactly ``[since, until)``.

* Claims are ranked by *knowledge*: a later boot knows more than an earlier one, and within one
  boot a higher ``seq`` knows more than a lower one. Boots are ordered by when the collector
  first heard of them (``boot_key``, then ``boot_id``): the agents' clocks may be wrong after a
  restart (a reset real-time clock), the collector's order of first arrival is not. At each
  instant the highest-ranked claim covering it decides the state; where none covers, the state
  is ``unknown`` (never carried forward). So a heartbeat sent while a run was still unrecorded
  ("idle") never cuts short the record of that run, which comes later with a higher ``seq``.

* A :class:`Will` (the broker's Last Will, or ``online: false`` on a clean stop) of a boot,
  received at ``R``, is a claim of ``unknown`` over ``[R, inf)`` ranked just above that boot's
  claims known before ``R`` (``ts < R``) and below those known at or after ``R``: it cuts the
  boot's earlier claims (and every earlier boot's) at ``R``. It is *withdrawn*
  (:func:`will_withdrawn`) when the same boot proves it went on observing across ``R``: a chain
  of consecutive messages (each names its predecessor's ``seq`` in ``prev_seq``) that has
  messages both before and at or after ``R``. Then the will came from a broker restart or a
  network cut, not from the agent's end, and only the claims themselves decide.

* A boot's claims end where the next boot of the instrument began (its ``boot_at``, the agent's
  own start time; for schema 1 its ``boot_key``): a new ``boot_id`` means the agent started
  again, so the earlier process observed nothing after that. Never before the earlier boot's
  own last knowledge (its latest ``ts``), so a wrong clock at the next start cannot erase what
  was observed: at most the earlier boot's freshness beyond its last message is cut.

* A claim may stand for several consecutive messages of one boot (the ledger keeps a run of
  heartbeats as one row): ``seq_lo..seq_hi`` and ``ts_lo..ts_hi``. That is exact: no message of
  the instrument lies between its members, so any other claim ranks above or below all of them.

Pure: no I/O, no clock. The ledger writer applies the same rules incrementally and is tested to
give the same timeline for any arrival order and batching.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from jishi.agent.wire import HeartbeatMessage, Message, StateMessage, StatusMessage
from jishi.collector.usage.timeline import UNKNOWN, Interval

# Claims are ranked by (boot_key, boot_id, phase, seq). A claim's phase is twice the number of
# its boot's standing wills received at or before its ``ts``; the k-th will (from 0) has phase
# 2k + 1, between the claims known before it and those known after it.
Rank = tuple[float, str, int, int]


class Claim(NamedTuple):
    """One message's claim, or a run of consecutive ones (see the module docstring).

    ``prev_seq`` is the ``seq`` of the message before the first one (``None``: the first of
    its boot for this instrument); ``linked`` is false when that is not known (schema 1
    messages carry no ``prev_seq``), and then the claim proves nothing about gaps. (A named
    tuple: the writer makes one per message.)"""

    boot_key: float
    boot_id: str
    seq_lo: int
    seq_hi: int
    prev_seq: int | None
    linked: bool
    ts_lo: float
    ts_hi: float
    start: float
    end: float
    state: str
    # A record with both ends: it tells the past, never the current state.
    closed: bool = False


class Will(NamedTuple):
    """A boot's ``online: false`` (Last Will or goodbye), received at ``received_at``."""

    boot_key: float
    boot_id: str
    received_at: float


class Boot(NamedTuple):
    """One boot of an instrument: its order key, id, start (the agent's ``boot_at``, else the
    key) and latest knowledge (the largest ``ts`` of its claims; ``-inf`` if none)."""

    key: float
    boot_id: str
    start: float
    last_ts: float


def claim_span(
    kind: str, ts: float, since: float, until: float | None, stale_after_s: float
) -> tuple[float, float]:
    """``[start, end)`` a message claims; ``kind`` is ``"hb"`` or ``"state"``."""
    if kind == "hb":
        return ts, ts + stale_after_s
    if until is not None:
        return since, max(since, until)
    return min(since, ts), max(since, ts) + stale_after_s


def single(
    *,
    boot_key: float,
    boot_id: str,
    seq: int,
    prev_seq: int | None,
    linked: bool,
    ts: float,
    start: float,
    end: float,
    state: str,
    closed: bool = False,
) -> Claim:
    """The claim of one message."""
    return Claim(boot_key, boot_id, seq, seq, prev_seq, linked, ts, ts, start, end, state, closed)


def claim_of(
    message: StateMessage | HeartbeatMessage, boot_key: float, stale_after_s: float
) -> Claim:
    """The claim of one message; schema 1 messages name no predecessor (unlinked)."""
    ts = message.ts.timestamp()
    if isinstance(message, HeartbeatMessage):
        start, end, closed = ts, ts + stale_after_s, False
    else:
        since = message.since.timestamp()
        until = None if message.until is None else message.until.timestamp()
        start, end = claim_span("state", ts, since, until, stale_after_s)
        closed = until is not None
    linked = message.schema_version >= 2
    prev = message.prev_seq if linked else None
    seq = message.seq
    return Claim(
        boot_key,
        message.boot_id,
        seq,
        seq,
        prev,
        linked,
        ts,
        ts,
        start,
        end,
        message.state.value,
        closed,
    )


def evidence_of(
    items: Iterable[tuple[Message, float]], stale_after_s: float
) -> tuple[list[Claim], list[Will], list[Boot]]:
    """The claims, wills and boots that messages (each with its receive time) prove, one claim
    per ``state``/``hb`` message; a repeated ``(boot_id, seq)`` counts once. A boot's key is
    its earliest receive time; its start the ``boot_at`` its messages announce (schema 2; the
    earliest, should they differ), else its key."""
    seen: set[tuple[str, int]] = set()
    unique: list[tuple[Message, float]] = []
    for message, received in items:
        if (message.boot_id, message.seq) not in seen:
            seen.add((message.boot_id, message.seq))
            unique.append((message, received))
    keys: dict[str, float] = {}
    starts: dict[str, float] = {}
    for message, received in unique:
        keys[message.boot_id] = min(received, keys.get(message.boot_id, received))
        if message.boot_at is not None:
            at = message.boot_at.timestamp()
            starts[message.boot_id] = min(at, starts.get(message.boot_id, at))
    claims: list[Claim] = []
    wills: list[Will] = []
    for message, received in unique:
        key = keys[message.boot_id]
        if isinstance(message, StateMessage | HeartbeatMessage):
            claims.append(claim_of(message, key, stale_after_s))
        elif isinstance(message, StatusMessage) and not message.online:
            wills.append(Will(key, message.boot_id, received))
    last: dict[str, float] = defaultdict(lambda: -math.inf)
    for claim in claims:
        last[claim.boot_id] = max(last[claim.boot_id], claim.ts_hi)
    boots = [
        Boot(k, b, starts.get(b, k), last[b])
        for b, k in keys.items()
        if b in last or any(w.boot_id == b for w in wills)
    ]
    return claims, wills, sorted(boots)


def will_withdrawn(will: Will, claims: Iterable[Claim]) -> bool:
    """True when the will's boot proved it observed across the will's receive time.

    ``claims`` may hold any claims; only the will's boot's are looked at. A linked chain of
    claims crosses ``R`` if one claim has members on both sides, or two consecutive claims
    (one's ``prev_seq`` is the other's ``seq_hi``) lie on opposite sides."""
    r = will.received_at
    mine = [c for c in claims if c.boot_id == will.boot_id]
    by_last = {c.seq_hi: c for c in mine}
    for claim in mine:
        if not claim.linked:
            continue
        if claim.ts_lo < r <= claim.ts_hi:
            return True
        before = by_last.get(claim.prev_seq) if claim.prev_seq is not None else None
        if before is None or not before.linked:
            continue
        if before.ts_hi < r <= claim.ts_lo or claim.ts_hi < r <= before.ts_lo:
            return True
    return False


def standing_wills(wills: Iterable[Will], claims: Sequence[Claim]) -> list[Will]:
    """The wills not withdrawn (:func:`will_withdrawn`)."""
    by_boot: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_boot[claim.boot_id].append(claim)
    return [w for w in wills if not will_withdrawn(w, by_boot.get(w.boot_id, []))]


def boots_of(
    claims: Iterable[Claim], wills: Iterable[Will], starts: dict[str, float] | None = None
) -> list[Boot]:
    """Every boot the evidence names; ``starts`` gives the agents' ``boot_at`` (default: the
    boot's key)."""
    keys: dict[str, float] = {}
    last: dict[str, float] = {}
    for c in claims:
        keys[c.boot_id] = c.boot_key
        last[c.boot_id] = max(last.get(c.boot_id, -math.inf), c.ts_hi)
    for w in wills:
        keys[w.boot_id] = w.boot_key
    given = starts or {}
    return sorted(Boot(k, b, given.get(b, k), last.get(b, -math.inf)) for b, k in keys.items())


def claim_rank(claim: Claim, will_times: Sequence[float]) -> Rank:
    """``will_times``: the standing wills of the claim's boot, sorted."""
    phase = 2 * bisect.bisect_right(will_times, claim.ts_lo)
    return (claim.boot_key, claim.boot_id, phase, claim.seq_lo)


@dataclass(frozen=True, slots=True)
class _Item:
    start: float
    end: float
    state: str
    rank: Rank


def _items(claims: Sequence[Claim], standing: Sequence[Will], boots: Sequence[Boot]) -> list[_Item]:
    times: dict[str, list[float]] = defaultdict(list)
    for will in standing:
        times[will.boot_id].append(will.received_at)
    phases: dict[tuple[str, float], int] = {}
    for boot_id, values in times.items():
        values.sort()
        for k, received in enumerate(values):
            phases.setdefault((boot_id, received), 2 * k + 1)
    # A boot ends where the next one began, never before its own last knowledge.
    order = sorted(boots)
    ends = {
        boot.boot_id: max(order[k + 1].start, boot.last_ts) for k, boot in enumerate(order[:-1])
    }
    items = []
    for c in claims:
        end = min(c.end, ends.get(c.boot_id, math.inf))
        if end > c.start:
            items.append(_Item(c.start, end, c.state, claim_rank(c, times.get(c.boot_id, ()))))
    for will in standing:
        rank: Rank = (will.boot_key, will.boot_id, phases[(will.boot_id, will.received_at)], -1)
        items.append(_Item(will.received_at, math.inf, UNKNOWN, rank))
    return items


def resolve(
    claims: Sequence[Claim],
    wills: Sequence[Will],
    start: float,
    end: float,
    boots: Sequence[Boot] | None = None,
) -> list[Interval]:
    """Contiguous intervals covering exactly ``[start, end)`` from all of an instrument's
    evidence (withdrawn wills are found here): see :func:`paint`. ``boots`` default to those
    the evidence names, each starting at its key."""
    every = boots if boots is not None else boots_of(claims, wills)
    return paint(claims, standing_wills(wills, claims), every, start, end)


def paint(
    claims: Sequence[Claim],
    standing: Sequence[Will],
    boots: Sequence[Boot],
    start: float,
    end: float,
) -> list[Interval]:
    """Contiguous intervals covering exactly ``[start, end)``: at each instant the state of the
    highest-ranked claim covering it, ``unknown`` where none does (or a standing will is on
    top). A boot's claims end where the next boot of ``boots`` began (never before the boot's
    own last knowledge). ``claims`` need only be those reaching into the range; ``standing``
    are the wills not withdrawn and ``boots`` every boot of the instrument. Adjacent intervals
    of one state are merged. O(n log n)."""
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"bad range [{start}, {end})")
    items = [i for i in _items(claims, standing, boots) if i.end > start and i.start < end]
    items.sort(key=lambda i: i.start)
    order = {rank: k for k, rank in enumerate(sorted({i.rank for i in items}))}
    pieces: list[list[float | str]] = []
    # Heap of the items covering the sweep point: (-rank order, end, state); lazy removal.
    active: list[tuple[int, float, str]] = []
    k, t, count = 0, start, len(items)
    while t < end:
        while k < count and items[k].start <= t:
            item = items[k]
            heapq.heappush(active, (-order[item.rank], item.end, item.state))
            k += 1
        while active and active[0][1] <= t:
            heapq.heappop(active)
        next_start = items[k].start if k < count else end
        if active:
            seg_end = min(active[0][1], next_start, end)
            state = active[0][2]
        else:
            seg_end, state = min(next_start, end), UNKNOWN
        if pieces and pieces[-1][2] == state:
            pieces[-1][1] = seg_end
        else:
            pieces.append([t, seg_end, state])
        t = seg_end
    return [Interval(float(a), float(b), str(s)) for a, b, s in pieces]


def known(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals of known state: what the ledger stores as spans."""
    return [i for i in intervals if i.state != UNKNOWN and i.end > i.start]
