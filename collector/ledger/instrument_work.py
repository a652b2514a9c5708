"""What one batch does to one instrument: its evidence stored, its spans kept right.

Theory of operation (:mod:`jishi.collector.usage.evidence` has the rules). For each ``state``
or ``hb`` message, in knowledge order, :meth:`InstrumentWork.observe`

* extends the run of the message before it (or starts a new ``claims`` row);
* if the message ranks above everything stored (the usual case: the next message of the newest
  boot), paints its claim over the spans: it wins wherever it reaches;
* otherwise notes the stretch it claims, to resolve again.

A will (:meth:`InstrumentWork.will`) is stored and noted the same way. Once the batch's evidence
is written, :meth:`InstrumentWork.settle` withdraws the wills the boot's chain now crosses,
resolves the noted stretches with the pure engine (from every claim stored there) and, when it
did, finds the new top rank and current state from the stored evidence.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from jishi.agent.wire import HeartbeatMessage, StateMessage, StatusMessage
from jishi.collector.ledger import claims
from jishi.collector.ledger.batch import Incoming
from jishi.collector.ledger.canvas import Loader, Span, SpanCanvas
from jishi.collector.ledger.claims import ClaimRow, WillRow
from jishi.collector.ledger.instruments import InstrumentRecord
from jishi.collector.ledger.sql import fetch, select_in
from jishi.collector.usage.evidence import Boot, Claim, Rank, Will, claim_of, known, paint

_MAX_TEXT = 200
_FOREVER = 1e300  # a time after every other (bound as a parameter: SQL has no infinity)
# The newest span of each instrument. Column names are literals; values are bound parameters.
_LATEST_SPANS_SQL = (
    'SELECT s.id, s.instrument_id, s.state, s.start, s."end" FROM spans s JOIN ('
    "SELECT instrument_id, MAX(start) AS start FROM spans WHERE instrument_id IN ({}) "
    "GROUP BY instrument_id) m ON s.instrument_id = m.instrument_id AND s.start = m.start"
)
TopKey = tuple[str, str, int]  # (instrument_id, boot_id, seq_lo) of a claims row
Window = tuple[float, float]


@dataclass
class InstrumentWork:
    """One instrument in one batch (see the module docstring)."""

    row: InstrumentRecord
    canvas: SpanCanvas
    wills: list[WillRow]  # standing before the batch (of its boots), and the batch's own
    top_run: ClaimRow | None
    runs: list[ClaimRow] = field(default_factory=list)  # loaded or new runs the batch touched
    windows: list[Window] = field(default_factory=list)  # to resolve again
    # Boots new to the instrument: the boot before each ends at its start (resolve from there).
    new_boots: list[str] = field(default_factory=list)
    # Older boots that got messages: where each ends (by its last knowledge) may have moved.
    late_boots: set[str] = field(default_factory=set)
    checks: set[str] = field(default_factory=set)  # boots whose standing wills to re-check
    boots_known: set[str] = field(default_factory=set)
    last_ts_before: float | None = None
    quiet: list[Window] = field(default_factory=list)  # windows the sink need not redo

    # --- messages -------------------------------------------------------------------------

    def observe(
        self, conn: Connection, message: StateMessage | HeartbeatMessage, boot_key: float
    ) -> None:
        """Store a state or heartbeat message's claim and keep the spans right."""
        row = self.row
        if isinstance(message, HeartbeatMessage) and not row.heartbeat_interval_s:
            row.heartbeat_interval_s = message.interval_s
        claim = claim_of(message, boot_key, row.stale_after())
        self._note_boot(claim.boot_id)
        run = self._place(conn, claim, message.historical)
        phase = 0
        if self.wills:  # rarely: a will of this boot stands (or came in this batch)
            times = self._standing_times(claim.boot_id)
            if times:
                self.checks.add(claim.boot_id)
                phase = 2 * bisect.bisect_right(times, claim.ts_lo)
        rank: Rank = (claim.boot_key, claim.boot_id, phase, claim.seq_hi)
        top = self._top()
        if top is not None and rank <= top:
            self.windows.append((claim.start, claim.end))  # below what is stored: resolve again
            if claim.boot_id != row.top_boot_id:
                self.late_boots.add(claim.boot_id)
            return
        # Above everything stored: its claim simply wins where it reaches.
        self.canvas.paint(claim.start, claim.end, claim.state)
        row.top_boot_key, row.top_boot_id, row.top_phase, row.top_seq = rank
        self.top_run = run
        if isinstance(message, StateMessage) and message.until is not None:
            return  # a closed record tells the past, not the current state
        if row.state != message.state.value or isinstance(message, StateMessage):
            row.state_since = message.since.timestamp()
        row.state = message.state.value
        row.last_ts = claim.ts_hi
        if row.boot_id is None:
            row.boot_id = message.boot_id

    def status(self, message: StatusMessage, boot_key: float, received: float) -> None:
        """A birth updates what the instrument is; ``online: false`` is a will (evidence)."""
        row = self.row
        row.full = True
        if message.online:
            row.online = True
            row.online_changed_at = received
            row.boot_id = message.boot_id
            row.site = row.site or message.site
            if message.heartbeat_interval_s:
                row.heartbeat_interval_s = message.heartbeat_interval_s
            row.announced_stale_after_s = message.stale_after_s
            if not row.registered:
                row.name = _clip(message.name)
                row.unit = _clip(message.unit)
                if message.category in ("general", "specialised"):
                    row.category = message.category
            else:
                row.name = row.name or _clip(message.name)
                row.unit = row.unit or _clip(message.unit)
            return
        if row.boot_id in (None, message.boot_id):
            # A last will of an older boot (retained, redelivered) says nothing about this one's
            # connection; as evidence it still cuts that older boot's claims.
            row.online = False
            row.online_changed_at = received
        will = Will(boot_key, message.boot_id, received)
        self._note_boot(message.boot_id)
        self.wills.append(WillRow(None, row.id, will, message.seq, new=True))
        self.checks.add(message.boot_id)

    def _place(self, conn: Connection, claim: Claim, historical: bool) -> ClaimRow:
        """Extend the run of the message before this one, or start a new run."""
        run = self._run_before(conn, claim)
        if run is not None and not self._will_between(run, claim) and run.absorb(claim, historical):
            return run
        fresh = ClaimRow.new(self.row.id, claim, historical)
        self.runs.append(fresh)
        return fresh

    def _run_before(self, conn: Connection, claim: Claim) -> ClaimRow | None:
        for run in reversed(self.runs):
            if run.continued_by(claim):
                return run if claim.linked or run is self.top_run else None
        if not claim.linked or claim.prev_seq is None:
            return None
        found = claims.find_run(conn, self.row.id, claim.boot_id, claim.prev_seq)
        if found is None:
            return None
        self.runs.append(found)
        return found if found.continued_by(claim) else None

    def _will_between(self, run: ClaimRow, claim: Claim) -> bool:
        """A standing will between an unlinked (schema 1) run and its next message: the run
        must not straddle it (nothing proves the agent observed across it)."""
        if run.claim.linked:
            return False
        return any(run.claim.ts_hi < r <= claim.ts_lo for r in self._standing_times(claim.boot_id))

    def _note_boot(self, boot_id: str) -> None:
        """Remember a boot's first evidence about this instrument (see ``new_boots``)."""
        if boot_id not in self.boots_known:
            self.boots_known.add(boot_id)
            if self.row.top_boot_id is not None:  # else there are no earlier boots to end
                self.new_boots.append(boot_id)

    def _standing_times(self, boot_id: str) -> list[float]:
        return sorted(
            w.will.received_at for w in self.wills if w.will.boot_id == boot_id and not w.withdrawn
        )

    def _top(self) -> Rank | None:
        row = self.row
        if (
            row.top_boot_key is None
            or row.top_boot_id is None
            or row.top_phase is None
            or row.top_seq is None
        ):
            return None
        return (row.top_boot_key, row.top_boot_id, row.top_phase, row.top_seq)

    # --- after the evidence is stored ---------------------------------------------------------

    def settle(self, conn: Connection, rewrites: list[tuple[str, float, float]]) -> None:
        """Withdraw wills the chain now crosses, resolve the stretches that need it again, and
        find the new top rank. ``rewrites`` gets the past stretches the sink must redo."""
        instrument_id = self.row.id
        changed_wills = bool(self.wills) and self._check_wills(conn)
        boots = claims.boots_of(conn, instrument_id) if self.new_boots or self.late_boots else []
        self.windows.extend(_boot_ends(conn, instrument_id, boots, self.new_boots, self.late_boots))
        before = self.last_ts_before
        if before is not None:
            # Paints that reach back before what was known: the sink rewrites them too.
            rewrites.extend(
                (instrument_id, lo, hi) for lo, hi in self.canvas.touched if lo < before
            )
        if not self.windows and not changed_wills:
            # The usual batch: every message landed on top and was painted.
            self.row.top_claim_lo = self.top_run.claim.seq_lo if self.top_run is not None else None
            return
        standing = claims.standing_wills_before(conn, instrument_id, _FOREVER)
        windows = _merged(self.windows)
        if windows and not boots:
            boots = claims.boots_of(conn, instrument_id)
        for lo, hi in windows:
            found = claims.overlapping(conn, instrument_id, lo, hi)
            pieces = known(paint(found, standing, boots, lo, hi))
            if pieces != self.canvas.view(lo, hi):
                self.canvas.replace(lo, hi, pieces)
                if (lo, hi) not in self.quiet:
                    rewrites.append((instrument_id, lo, hi))
        self._retop(conn, standing)

    def _check_wills(self, conn: Connection) -> bool:
        """Withdraw the standing wills whose boot's chain now crosses them; note the stretches
        that new and withdrawn wills change. Returns whether any did."""
        changed = False
        for will in self.wills:
            if will.withdrawn or will.will.boot_id not in self.checks:
                continue
            boot_id, received = will.will.boot_id, will.will.received_at
            if claims.crossing(conn, self.row.id, boot_id, received):
                will.withdrawn = True
            if will.new or will.withdrawn:
                # A new will cuts what its boot claimed past it; a withdrawn one stops cutting.
                lo, hi, later = claims.window_bounds(conn, self.row.id, boot_id, received)
                self.windows.append((lo, hi))
                newest = boot_id == self.row.top_boot_id
                if will.new and not will.withdrawn and not later and newest:
                    # In order: the sink mirror's own unknown point at the will shows this cut.
                    self.quiet.append((lo, hi))
                changed = True
        withdrawn = [w for w in self.wills if w.withdrawn]
        if withdrawn:
            claims.write_wills(conn, withdrawn)
        return changed

    def _retop(self, conn: Connection, standing: Sequence[Will]) -> None:
        """The top rank and the current state from the stored evidence (after a slow path)."""
        row = self.row
        rank, claim_lo = claims.top_rank(conn, row.id, standing)
        if rank is None:
            row.top_boot_key = row.top_boot_id = row.top_phase = row.top_seq = None
        else:
            row.top_boot_key, row.top_boot_id, row.top_phase, row.top_seq = rank
        row.top_claim_lo = claim_lo
        # The row's state is that of the highest-ranked claim that is not a closed record.
        found = claims.top_claim(conn, row.id, standing, open_only=True)
        if found is None:
            return
        key = (row.id, found[0][1], found[1])
        run = claims.load_runs(conn, [key])[key].claim
        if row.state != run.state:
            row.state, row.state_since = run.state, run.start
        row.last_ts = run.ts_hi


def load_work(
    conn: Connection,
    instruments: Mapping[str, InstrumentRecord],
    by_instrument: Mapping[str, list[Incoming]],
    tops: Mapping[TopKey, ClaimRow],
) -> dict[str, InstrumentWork]:
    """The work of a batch: each instrument's newest span, its boots' standing wills, its
    newest run (``tops``, from :func:`top_key`) and which of the batch's boots spoke before."""
    ids = sorted(instruments)
    latest: dict[str, Span] = {}
    for span_id, instrument_id, state, start, end in select_in(
        conn, _LATEST_SPANS_SQL, ids, lock=False
    ):
        latest[instrument_id] = Span(span_id, start, end, state, (start, end, state))
    pairs = sorted({(i, m.message.boot_id) for i, items in by_instrument.items() for m in items})
    wills = claims.standing_wills_of_boots(conn, pairs)
    # Boots of the batch other than each instrument's newest: which have spoken before?
    others = [(i, b) for i, b in pairs if instruments[i].top_boot_id not in (None, b)]
    spoken: dict[str, list[str]] = defaultdict(list)
    for instrument_id, boot_id in claims.evidence_boots(conn, others) if others else ():
        spoken[instrument_id].append(boot_id)
    work: dict[str, InstrumentWork] = {}
    for instrument_id in ids:
        row = instruments[instrument_id]
        key = top_key(row)
        top = tops.get(key) if key is not None else None
        newest = {row.top_boot_id} if row.top_boot_id else set()
        work[instrument_id] = InstrumentWork(
            row=row,
            canvas=SpanCanvas.from_latest(
                latest.get(instrument_id), _span_loader(conn, instrument_id)
            ),
            wills=list(wills.get(instrument_id, [])),
            top_run=top,
            runs=[top] if top is not None else [],
            last_ts_before=row.last_ts,
            boots_known=newest | set(spoken[instrument_id]),
        )
    return work


def top_key(row: InstrumentRecord) -> TopKey | None:
    """The key of the run holding the top rank (None: a will, or nothing, is on top)."""
    if row.top_boot_id is None or row.top_claim_lo is None:
        return None
    return (row.id, row.top_boot_id, row.top_claim_lo)


def _span_loader(conn: Connection, instrument_id: str) -> Loader:
    def load(lo: float, hi: float) -> list[Span]:
        rows = fetch(
            conn,
            'SELECT id, state, start, "end" FROM spans WHERE instrument_id = ? AND "end" >= ? '
            "AND start < ?",
            (instrument_id, lo, hi),
        )
        return [Span(i, a, b, s, (a, b, s)) for i, s, a, b in rows]

    return load


def _boot_ends(
    conn: Connection,
    instrument_id: str,
    boots: Sequence[Boot],
    new: Iterable[str],
    late: Iterable[str],
) -> list[Window]:
    """Where a boot ends may have moved: a new boot ends the one before it at its start (never
    before that one's last knowledge); an older boot's new messages may move its own end."""
    order = sorted(boots)
    place = {boot.boot_id: k for k, boot in enumerate(order)}
    out: list[Window] = []
    for boot_id in new:
        k = place.get(boot_id)
        if k:  # not the first boot: the one before it ends here now
            before = order[k - 1]
            lo = max(order[k].start, before.last_ts)
            hi = claims.max_end_of(conn, instrument_id, before.boot_id)
            if hi is not None and hi > lo:
                out.append((lo, hi))
    for boot_id in late:
        k = place.get(boot_id)
        if k is not None and k + 1 < len(order):
            hi = claims.max_end_of(conn, instrument_id, boot_id)
            if hi is not None and hi > order[k + 1].start:
                out.append((order[k + 1].start, hi))
    return out


def _merged(windows: Iterable[Window]) -> list[Window]:
    out: list[Window] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return [(lo, hi) for lo, hi in out if hi > lo]


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_TEXT]
