"""The evidence rules (DESIGN.md, "Freshness, evidence and unknown time") as tables, and the
sweep against a brute-force reference.

Each case lists messages of one instrument as the collector stores them and the timeline they
must give. Times are seconds after T0; heartbeats are fresh for 10 s.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jishi.collector.usage.evidence import (
    Claim,
    Will,
    claim_span,
    resolve,
    single,
    will_withdrawn,
)
from jishi.collector.usage.timeline import UNKNOWN

from support.usage_cases import T0, rows

STALE = 10.0


@dataclass(frozen=True)
class Msg:
    """A message in the tables below: ``hb``, ``state`` (since = ts - back), ``closed``
    (since .. until) or ``will`` (received at ts)."""

    kind: str
    seq: int
    ts: float
    state: str = "idle"
    since: float | None = None
    until: float | None = None
    boot: int = 0
    prev: int | None = None
    linked: bool = True


def hb(seq: int, ts: float, state: str, *, boot: int = 0, prev: int | None = None) -> Msg:
    return Msg("hb", seq, ts, state, boot=boot, prev=prev)


def change(seq: int, ts: float, state: str, since: float, **kw: object) -> Msg:
    return Msg("state", seq, ts, state, since=since, **kw)  # type: ignore[arg-type]  # keyword overrides are checked by Msg itself


def closed(seq: int, ts: float, state: str, since: float, until: float, **kw: object) -> Msg:
    return Msg("closed", seq, ts, state, since=since, until=until, **kw)  # type: ignore[arg-type]  # keyword overrides are checked by Msg itself


def will(seq: int, received: float, *, boot: int = 0) -> Msg:
    return Msg("will", seq, received, boot=boot)


def chain(*msgs: Msg) -> list[Msg]:
    """Link each hb/state message of a boot to the previous one (no message lost)."""
    out: list[Msg] = []
    last: dict[int, int] = {}
    for m in msgs:
        if m.kind == "will":
            out.append(m)
            continue
        out.append(Msg(m.kind, m.seq, m.ts, m.state, m.since, m.until, m.boot, last.get(m.boot)))
        last[m.boot] = m.seq
    return out


def evidence(msgs: list[Msg]) -> tuple[list[Claim], list[Will]]:
    claims, wills = [], []
    for m in msgs:
        boot_at, boot_id = T0 + 100 * m.boot - 50, f"boot{m.boot}"
        if m.kind == "will":
            wills.append(Will(boot_at, boot_id, T0 + m.ts))
            continue
        since = T0 + (m.since if m.since is not None else m.ts)
        until = None if m.until is None else T0 + m.until
        kind = "hb" if m.kind == "hb" else "state"
        start, end = claim_span(kind, T0 + m.ts, since, until, STALE)
        claims.append(
            single(
                boot_key=boot_at,
                boot_id=boot_id,
                seq=m.seq,
                prev_seq=m.prev,
                linked=m.linked,
                ts=T0 + m.ts,
                start=start,
                end=end,
                state=m.state,
                closed=m.until is not None,
            )
        )
    return claims, wills


# fmt: off
CASES = {
    "a heartbeat is fresh for stale_after": (
        chain(hb(1, 0, "idle")),
        [(0, 10, "idle")],
    ),
    "heartbeats every 4 s make one stretch; a gap longer than stale_after is unknown": (
        chain(hb(1, 0, "idle"), hb(2, 4, "idle"), hb(3, 30, "idle")),
        [(0, 14, "idle"), (14, 30, UNKNOWN), (30, 40, "idle")],
    ),
    "a state change dated back (min dwell) holds from since": (
        chain(hb(1, 0, "idle"), change(2, 8, "running", since=5)),
        [(0, 5, "idle"), (5, 18, "running")],
    ),
    "a run recorded at its end: heartbeats that said idle never cut it short": (
        chain(hb(1, 0, "idle"), hb(2, 4, "idle"), hb(3, 8, "idle"), hb(4, 12, "idle"),
              change(5, 14, "running", since=2), change(6, 14, "idle", since=13)),
        [(0, 2, "idle"), (2, 13, "running"), (13, 24, "idle")],
    ),
    "a closed record: exactly its interval, the heartbeats' idle around it": (
        chain(hb(1, 0, "idle"), hb(2, 8, "idle"), closed(3, 9, "running", since=3, until=6)),
        [(0, 3, "idle"), (3, 6, "running"), (6, 18, "idle")],
    ),
    "a backlog read at first start: the log is the record in between": (
        chain(change(1, 100, "idle", since=0), change(2, 100, "running", since=30),
              change(3, 100, "idle", since=70)),
        [(0, 30, "idle"), (30, 70, "running"), (70, 110, "idle")],
    ),
    "an older message arriving later is still older knowledge": (
        chain(hb(1, 0, "running"), hb(2, 4, "idle"))[::-1],
        [(0, 4, "running"), (4, 14, "idle")],
    ),
    "a will makes the rest unknown from its receive time": (
        chain(hb(1, 0, "running"), will(2, 3)),
        [(0, 3, "running"), (3, 20, UNKNOWN)],
    ),
    "a will, then the same boot's chain goes on across it: withdrawn (a broker restart)": (
        chain(hb(1, 0, "running"), will(2, 3), hb(3, 4, "running"), hb(4, 8, "running")),
        [(0, 18, "running")],
    ),
    "a will, then the boot's chain has a gap across it: the will stands until the next claim": (
        [*chain(hb(1, 0, "running")), will(2, 3), hb(4, 8, "running", prev=3)],
        [(0, 3, "running"), (3, 8, UNKNOWN), (8, 18, "running")],
    ),
    "a later boot overrides an earlier one and ends it at its start": (
        chain(hb(1, 40, "running", boot=0), hb(1, 52, "idle", boot=1)),
        [(40, 50, "running"), (50, 52, UNKNOWN), (52, 62, "idle")],
    ),
    "a later boot's backlog record overrides the earlier boot's heartbeats": (
        chain(hb(1, 20, "idle"), hb(2, 28, "idle"), change(1, 55, "running", since=21, boot=1),
              change(2, 55, "idle", since=29, boot=1)),
        [(20, 21, "idle"), (21, 29, "running"), (29, 65, "idle")],
    ),
    "an older boot's will says nothing against a newer boot's claims": (
        chain(hb(1, 52, "idle", boot=1), will(9, 55, boot=0)),
        [(52, 62, "idle")],
    ),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_evidence_rules(name: str) -> None:
    msgs, want = CASES[name]
    claims, wills = evidence(msgs)
    lo = T0 + min(m.ts if m.since is None else min(m.ts, m.since) for m in msgs)
    hi = lo + 200
    got = list(rows(resolve(claims, wills, lo, hi)))
    # Compare over the stretch the table spells out; the rest is unknown.
    first, last = want[0][0], want[-1][1]
    got_inner = [(max(a, first), min(b, last), s) for a, b, s in got if b > first and a < last]
    assert got_inner == [(float(a), float(b), s) for a, b, s in want]
    assert all(s == UNKNOWN for a, b, s in got if a >= last)


def test_schema_1_messages_never_withdraw_a_will() -> None:
    """Without ``prev_seq`` nothing proves that no message was lost across the will."""
    msgs = [
        Msg("hb", 1, 0, "running", linked=False),
        will(2, 3),
        Msg("hb", 3, 4, "running", linked=False),
    ]
    claims, wills = evidence(msgs)
    assert not will_withdrawn(wills[0], claims)
    got = rows(resolve(claims, wills, T0, T0 + 20))
    assert got == [
        (0.0, 3.0, "running"),
        (3.0, 4.0, UNKNOWN),
        (4.0, 14.0, "running"),
        (14.0, 20.0, UNKNOWN),
    ]


# --- against a brute-force reference -------------------------------------------------------


def _reference(claims: list[Claim], wills: list[Will], t: float) -> str:
    """The state at instant ``t`` straight from the rules, claim by claim."""
    by_boot = sorted(
        {(c.boot_key, c.boot_id) for c in claims} | {(w.boot_key, w.boot_id) for w in wills}
    )
    last = {
        b: max((c.ts_hi for c in claims if c.boot_id == b), default=-math.inf) for _, b in by_boot
    }
    # A boot ends where the next one began (its key, here), never before its own last ts.
    ends = {
        b: max(by_boot[k + 1][0], last[b]) if k + 1 < len(by_boot) else math.inf
        for k, (_, b) in enumerate(by_boot)
    }
    standing = [w for w in wills if not will_withdrawn(w, claims)]
    best: tuple[tuple[float, str, int, int], str] | None = None
    for c in claims:
        if not (c.start <= t < min(c.end, ends[c.boot_id])):
            continue
        wills_before = sum(
            1 for w in standing if w.boot_id == c.boot_id and w.received_at <= c.ts_lo
        )
        rank = (c.boot_key, c.boot_id, 2 * wills_before, c.seq_lo)
        if best is None or rank > best[0]:
            best = (rank, c.state)
    for w in standing:
        if t < w.received_at:
            continue
        earlier = sorted(x.received_at for x in standing if x.boot_id == w.boot_id)
        rank = (w.boot_key, w.boot_id, 2 * earlier.index(w.received_at) + 1, -1)
        if best is None or rank > best[0]:
            best = (rank, UNKNOWN)
    return UNKNOWN if best is None else best[1]


@st.composite
def histories(draw: st.DrawFn) -> list[Msg]:
    msgs: list[Msg] = []
    for boot in range(draw(st.integers(1, 3))):
        ts = 30 * boot
        prev: int | None = None
        for seq in range(1, draw(st.integers(1, 8)) + 1):
            ts += draw(st.integers(0, 5))
            kind = draw(st.sampled_from(["hb", "hb", "state", "closed", "will"]))
            state = draw(st.sampled_from(["idle", "running", "off"]))
            back = draw(st.integers(0, 15))
            lost = draw(st.integers(0, 6)) == 0
            if kind == "will":
                msgs.append(will(seq, ts + draw(st.integers(0, 3)), boot=boot))
                continue
            since = ts - back
            until = since + draw(st.integers(1, 6)) if kind == "closed" else None
            if kind == "closed":
                since -= 6
            if not lost:
                msgs.append(
                    Msg(kind, seq, ts, state, since if kind != "hb" else None, until, boot, prev)
                )
            prev = seq
    return msgs


@settings(max_examples=300, deadline=None)
@given(histories())
def test_resolve_matches_the_rules_instant_by_instant(msgs: list[Msg]) -> None:
    claims, wills = evidence(msgs)
    lo, hi = T0 - 30, T0 + 140
    timeline = resolve(claims, wills, lo, hi)
    assert timeline[0].start == lo and timeline[-1].end == hi
    assert all(a.end == b.start and a.state != b.state for a, b in itertools.pairwise(timeline))
    for piece in timeline:
        for t in (piece.start, (piece.start + piece.end) / 2):
            assert _reference(claims, wills, t) == piece.state, (t - T0, piece)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_run_of_consecutive_claims_is_the_same_as_its_members(msgs: list[Msg]) -> None:
    """The ledger keeps consecutive same-state messages of a boot as one claim: exact."""
    claims, wills = evidence(msgs)
    merged: list[Claim] = []
    for claim in sorted(claims, key=lambda c: (c.boot_key, c.seq_lo)):
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.boot_id == claim.boot_id
            and claim.prev_seq == last.seq_hi
            and last.state == claim.state
            and last.closed == claim.closed
            and claim.start <= last.end
            and claim.end >= last.start
        ):
            merged[-1] = Claim(
                last.boot_key,
                last.boot_id,
                last.seq_lo,
                claim.seq_hi,
                last.prev_seq,
                True,
                min(last.ts_lo, claim.ts_lo),
                max(last.ts_hi, claim.ts_hi),
                min(last.start, claim.start),
                max(last.end, claim.end),
                last.state,
                last.closed,
            )
        else:
            merged.append(claim)
    lo, hi = T0 - 30, T0 + 140
    assert resolve(merged, wills, lo, hi) == resolve(claims, wills, lo, hi)
