"""Writes one batch of received messages into the ledger in one transaction.

Theory of operation. A batch is dead letters plus accepted wire messages. In one transaction:

1. dedupe on ``(boot_id, seq)`` against the ``boots`` rows (locked, so two collectors sharing a
   PostgreSQL never both take one message), and learn each boot's ``boot_at``;
2. lock the instruments the batch touches (sorted, so two collectors cannot deadlock);
3. store each ``state``/``hb`` message as evidence (:mod:`jishi.collector.evidence`): its claim
   extends the run of the message before it, or starts a new ``claims`` row; a will becomes a
   ``wills`` row;
4. keep the ``spans`` (the resolved timeline) right: a message ranked above everything stored
   (the usual case: the next message of the newest boot) paints its claim over the spans; for
   anything else (late data of an older rank, a will, a will the chain now withdraws) the pure
   engine resolves the stretch it can change again from the stored evidence.

The caller acknowledges the MQTT messages only after the commit, so a crash loses nothing: the
broker redelivers and the dedupe drops what was already stored. The result does not depend on
arrival order or batching (tests/collector/test_writer_properties.py).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from jishi.agent.wire import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    STALE_AFTER_FACTOR,
    HeartbeatMessage,
    Message,
    SessionMessage,
    StateMessage,
    StatusMessage,
)
from jishi.collector import claim_store, seqranges, tables
from jishi.collector.canvas import Span, SpanCanvas
from jishi.collector.claim_store import ClaimRow, WillRow
from jishi.collector.config import InstrumentEntry
from jishi.collector.evidence import Claim, Rank, Will, claim_of, known, paint
from jishi.collector.intake import Reason
from jishi.collector.sqlhelp import (
    assignments,
    fetch,
    many,
    quoted,
    select_in,
    upsert,
)
from sqlalchemy import Boolean, Connection, insert

_MAX_TEXT = 200
_FOREVER = 1e300  # a time after every other (bound as a parameter: SQL has no infinity)
_HOT_COLUMNS = (
    "state",
    "state_since",
    "last_ts",
    "last_seen",
    "heartbeat_interval_s",
    "boot_id",
    "top_boot_at",
    "top_boot_id",
    "top_phase",
    "top_seq",
    "top_claim_lo",
)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class DeadLetter:
    received_at: float
    topic: str
    reason: Reason
    detail: str
    payload: bytes


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Incoming:
    message: Message
    received_at: float


@dataclass
class BatchOutcome:
    stored: int = 0
    duplicates: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    # Stored messages in batch order and their instruments' rows after the batch (sink mirror).
    fresh: list[Incoming] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stretches of the past the batch changed (late records, wills): the sink rewrites them.
    rewrites: list[tuple[str, float, float]] = field(default_factory=list)


def effective_stale_after_s(row: Mapping[str, Any]) -> float:
    """``stale_after`` of an instrument: override, else announced, else 2.5 x heartbeat."""
    for key in ("stale_after_s", "announced_stale_after_s"):
        if row.get(key):
            return float(row[key])
    interval = row.get("heartbeat_interval_s") or DEFAULT_HEARTBEAT_INTERVAL_S
    return STALE_AFTER_FACTOR * float(interval)


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_TEXT]


@dataclass
class _Work:
    """What one batch does to one instrument."""

    row: dict[str, Any]
    canvas: SpanCanvas
    wills: list[WillRow]  # standing before the batch, and the batch's own
    top_run: ClaimRow | None
    runs: list[ClaimRow] = field(default_factory=list)  # loaded or new runs the batch touched
    windows: list[tuple[float, float]] = field(default_factory=list)  # to resolve again
    # Boots new to the instrument: earlier boots end at their start (resolve from there on).
    new_boots: list[float] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)  # boots whose standing wills to re-check
    boots_known: set[str] = field(default_factory=set)
    last_ts_before: float | None = None
    quiet: list[tuple[float, float]] = field(default_factory=list)  # windows the sink need not redo

    @property
    def newest_boot(self) -> str | None:
        top: str | None = self.row["top_boot_id"]
        return top

    def note_boot(self, boot_id: str, boot_at: float) -> None:
        """Remember a boot's first evidence about this instrument (see ``new_boots``)."""
        if boot_id not in self.boots_known:
            self.boots_known.add(boot_id)
            if self.row["top_boot_id"] is not None:  # else there are no earlier boots to end
                self.new_boots.append(boot_at)

    def standing_times(self, boot_id: str) -> list[float]:
        return sorted(
            w.will.received_at for w in self.wills if w.will.boot_id == boot_id and not w.withdrawn
        )

    def top(self) -> Rank | None:
        row = self.row
        if row["top_boot_id"] is None:
            return None
        return (row["top_boot_at"], row["top_boot_id"], row["top_phase"], row["top_seq"])


class LedgerWriter:
    """Applies batches. Several threads or processes may write (each batch locks the rows it
    touches); besides configuration a writer keeps only a cache of each instrument's newest
    run, checked against the locked instrument row before use."""

    def __init__(
        self, registry: Mapping[str, InstrumentEntry], timezone: str, dead_letter_max_bytes: int
    ) -> None:
        self.registry = registry
        self.zone = ZoneInfo(timezone)
        self.dead_letter_max_bytes = dead_letter_max_bytes
        # instrument -> its newest run as last written (values()); a run's content is fixed by
        # its key and last seq, so a cached run whose key and seq_hi match the row is current
        # (another collector's or a rolled-back batch's change shows as a mismatch).
        self._tops: dict[str, tuple[Any, ...]] = {}
        self._tops_lock = threading.Lock()

    def write(
        self, conn: Connection, items: Sequence[Incoming | DeadLetter], now: float
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        dead = [item for item in items if isinstance(item, DeadLetter)]
        if dead:
            conn.execute(
                insert(tables.dead_letters),
                [
                    {
                        "received_at": d.received_at,
                        "topic": d.topic[:300],
                        "reason": d.reason.value,
                        "detail": d.detail[:2000],
                        "size": len(d.payload),
                        "payload": d.payload[: self.dead_letter_max_bytes],
                    }
                    for d in dead
                ],
            )
            outcome.dead.update(d.reason.value for d in dead)
        incoming = [i for i in items if isinstance(i, Incoming)]
        fresh, boot_at = self._dedupe(conn, incoming, now)
        outcome.duplicates = len(incoming) - len(fresh)
        if fresh:
            outcome.fresh = fresh
            outcome.rows, outcome.rewrites = self._apply(conn, fresh, boot_at, now)
        outcome.stored = len(fresh)
        return outcome

    # --- dedupe ---------------------------------------------------------------------------

    def _dedupe(
        self, conn: Connection, items: list[Incoming], now: float
    ) -> tuple[list[Incoming], dict[str, float]]:
        """The messages not stored before, and every boot's ``boot_at``."""
        if not items:
            return [], {}
        boot_ids = sorted({i.message.boot_id for i in items})

        def locked(ids: list[str]) -> dict[str, tuple[seqranges.Ranges, float]]:
            rows = select_in(
                conn,
                "SELECT boot_id, ranges, boot_at, first_seen FROM boots WHERE boot_id IN ({}) "
                "ORDER BY boot_id",
                ids,
            )
            return {b: (seqranges.parse(text), at or first) for b, text, at, first in rows}

        known = locked(boot_ids)
        missing = [boot for boot in boot_ids if boot not in known]
        if missing:
            started = _boot_starts(items, set(missing))
            # Another collector may insert the same boot now: do nothing, then lock what is there.
            conn.execute(
                upsert(conn, tables.boots).on_conflict_do_nothing(),
                [
                    {
                        "boot_id": k,
                        "ranges": "",
                        "first_seen": now,
                        "last_seen": now,
                        "boot_at": started[k],
                    }
                    for k in missing
                ],
            )
            known.update(locked(missing))
        fresh = [i for i in items if seqranges.add(known[i.message.boot_id][0], i.message.seq)]
        grown = {i.message.boot_id for i in fresh}
        many(
            conn,
            "UPDATE boots SET ranges = ?, last_seen = ? WHERE boot_id = ?",
            [(seqranges.format_ranges(known[k][0]), now, k) for k in sorted(grown)],
        )
        return fresh, {k: v[1] for k, v in known.items()}

    # --- instruments ----------------------------------------------------------------------

    def _lock_instruments(
        self, conn: Connection, by_instrument: Mapping[str, list[Incoming]], now: float
    ) -> dict[str, dict[str, Any]]:
        ids = sorted(by_instrument)
        t = tables.instruments
        columns = [c.name for c in t.columns]
        booleans = [c.name for c in t.columns if isinstance(c.type, Boolean)]
        # Column names from tables.py; values are bound parameters.
        sql = f"SELECT {quoted(columns)} FROM instruments WHERE id IN ({{}}) ORDER BY id"  # noqa: S608

        def locked(wanted: list[str]) -> dict[str, dict[str, Any]]:
            rows = select_in(conn, sql, wanted)
            found = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
            for row in found.values():
                for name in booleans:
                    if row[name] is not None:
                        row[name] = bool(row[name])
            return found

        found = locked(ids)
        missing = [i for i in ids if i not in found]
        if not missing:
            return found
        new_rows = []
        for instrument_id in missing:
            entry = self.registry.get(instrument_id)
            first = by_instrument[instrument_id][0].message
            new_rows.append(
                {
                    "id": instrument_id,
                    "site": (entry.site if entry and entry.site else first.site),
                    "name": entry.name if entry else None,
                    "unit": entry.unit if entry else None,
                    "category": entry.category if entry else "general",
                    "quota_h": entry.quota_h if entry else None,
                    "inner_id": entry.inner_id if entry else None,
                    "stale_after_s": entry.stale_after_s if entry else None,
                    "registered": entry is not None,
                    "created_at": now,
                }
            )
        conn.execute(upsert(conn, t).on_conflict_do_nothing(), new_rows)
        found.update(locked(missing))
        for instrument_id in missing:
            found[instrument_id]["_full"] = True
        return found

    # --- the batch ------------------------------------------------------------------------

    def _apply(
        self, conn: Connection, items: list[Incoming], boot_at: Mapping[str, float], now: float
    ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, float, float]]]:
        by_instrument: dict[str, list[Incoming]] = defaultdict(list)
        for item in items:
            by_instrument[item.message.instrument].append(item)
        instruments = self._lock_instruments(conn, by_instrument, now)
        work = self._load(conn, instruments, by_instrument)
        sessions: list[dict[str, Any]] = []
        for instrument_id, incoming in by_instrument.items():
            job = work[instrument_id]
            # Knowledge order: most of a batch then lands above what is stored.
            incoming.sort(
                key=lambda i: (boot_at[i.message.boot_id], i.message.boot_id, i.message.seq)
            )
            for item in incoming:
                self._apply_one(conn, job, item, boot_at[item.message.boot_id], sessions)
        claim_store.write_claims(conn, [run for job in work.values() for run in job.runs])
        self._remember_tops(work)
        claim_store.write_wills(conn, [w for job in work.values() for w in job.wills])
        rewrites: list[tuple[str, float, float]] = []
        for instrument_id, job in work.items():
            self._settle(conn, instrument_id, job, rewrites)
        self._flush(conn, instruments, work, sessions, now)
        return instruments, rewrites

    def _load(
        self,
        conn: Connection,
        instruments: Mapping[str, dict[str, Any]],
        by_instrument: Mapping[str, list[Incoming]],
    ) -> dict[str, _Work]:
        ids = sorted(instruments)
        latest: dict[str, Span] = {}
        for span_id, instrument_id, state, start, end in select_in(
            conn, _LATEST_SPANS_SQL, ids, lock=False
        ):
            latest[instrument_id] = Span(span_id, start, end, state, (start, end, state))
        pairs = sorted(
            {(i, item.message.boot_id) for i, items in by_instrument.items() for item in items}
        )
        wills = claim_store.standing_wills_of_boots(conn, pairs)
        tops = self._top_runs(conn, instruments)
        # Boots of the batch other than each instrument's newest: which have spoken before?
        others = sorted(
            {
                (i, item.message.boot_id)
                for i, items in by_instrument.items()
                for item in items
                if instruments[i]["top_boot_id"] not in (None, item.message.boot_id)
            }
        )
        spoken: dict[str, list[str]] = defaultdict(list)
        for instrument_id, boot_id in claim_store.evidence_boots(conn, others) if others else ():
            spoken[instrument_id].append(boot_id)
        work: dict[str, _Work] = {}
        for instrument_id in ids:
            row = instruments[instrument_id]
            key = (instrument_id, row["top_boot_id"], row["top_claim_lo"])
            top = tops.get(key) if row["top_claim_lo"] is not None else None
            work[instrument_id] = _Work(
                row=row,
                canvas=SpanCanvas.from_latest(
                    latest.get(instrument_id), _span_loader(conn, instrument_id)
                ),
                wills=list(wills.get(instrument_id, [])),
                top_run=top,
                runs=[top] if top is not None else [],
                last_ts_before=row["last_ts"],
                boots_known={row["top_boot_id"], *spoken.get(instrument_id, ())},
            )
        return work

    def _top_runs(
        self, conn: Connection, instruments: Mapping[str, dict[str, Any]]
    ) -> dict[tuple[str, str, int], ClaimRow]:
        """Each instrument's newest run: from the cache when it matches the row, else loaded."""
        tops: dict[tuple[str, str, int], ClaimRow] = {}
        missing: list[tuple[str, str, int]] = []
        with self._tops_lock:
            for row in instruments.values():
                if row["top_claim_lo"] is None:
                    continue
                key = (row["id"], row["top_boot_id"], row["top_claim_lo"])
                cached = self._tops.get(row["id"])
                if (
                    cached is not None
                    and (cached[0], cached[2], cached[3]) == key
                    and (cached[4] == row["top_seq"])
                ):
                    tops[key] = ClaimRow(*cached)
                else:
                    missing.append(key)
        if missing:
            tops.update(claim_store.load_runs(conn, missing))
        return tops

    def _remember_tops(self, work: Mapping[str, _Work]) -> None:
        with self._tops_lock:
            for instrument_id, job in work.items():
                if job.top_run is not None:
                    self._tops[instrument_id] = job.top_run.values()
                else:
                    self._tops.pop(instrument_id, None)

    def _apply_one(
        self,
        conn: Connection,
        job: _Work,
        item: Incoming,
        boot_at: float,
        sessions: list[dict[str, Any]],
    ) -> None:
        message, received = item.message, item.received_at
        row = job.row
        row["last_seen"] = max(row["last_seen"] or 0.0, received)
        if not row["site"]:  # registered before it ever reported (registry_sync)
            row["site"], row["_full"] = message.site, True
        if isinstance(message, StatusMessage):
            self._apply_status(conn, job, message, boot_at, received)
            return
        if isinstance(message, SessionMessage):
            sessions.append(_session_row(message, message.ts.timestamp()))
            return
        if isinstance(message, HeartbeatMessage) and not row["heartbeat_interval_s"]:
            row["heartbeat_interval_s"] = message.interval_s
        claim = claim_of(message, boot_at, effective_stale_after_s(row))
        job.note_boot(claim.boot_id, boot_at)
        run = self._place(conn, job, claim, message.historical)
        phase = 0
        if job.wills:  # rarely: a will of this boot stands (or came in this batch)
            times = job.standing_times(claim.boot_id)
            if times:
                job.checks.add(claim.boot_id)
                phase = 2 * bisect.bisect_right(times, claim.ts_lo)
        rank: Rank = (claim.boot_at, claim.boot_id, phase, claim.seq_hi)
        top = job.top()
        if top is not None and rank <= top:
            job.windows.append((claim.start, claim.end))  # below what is stored: resolve again
            return
        # Above everything stored: its claim simply wins where it reaches.
        job.canvas.paint(claim.start, claim.end, claim.state)
        row["top_boot_at"], row["top_boot_id"], row["top_phase"], row["top_seq"] = rank
        job.top_run = run
        if isinstance(message, StateMessage) and message.until is not None:
            return  # a closed record tells the past, not the current state
        since = message.since.timestamp()
        if row["state"] != message.state.value or isinstance(message, StateMessage):
            row["state_since"] = since
        row["state"] = message.state.value
        row["last_ts"] = claim.ts_hi
        if row["boot_id"] is None:
            row["boot_id"] = message.boot_id

    def _place(self, conn: Connection, job: _Work, claim: Claim, historical: bool) -> ClaimRow:
        """Extend the run of the message before this one, or start a new run."""
        run = self._run_before(conn, job, claim)
        if (
            run is not None
            and not self._will_between(job, run, claim)
            and run.absorb(claim, historical)
        ):
            return run
        fresh = ClaimRow.new(job.row["id"], claim, historical)
        job.runs.append(fresh)
        return fresh

    def _run_before(self, conn: Connection, job: _Work, claim: Claim) -> ClaimRow | None:
        for run in reversed(job.runs):
            if run.continued_by(claim):
                return run if claim.linked or run is job.top_run else None
        if not claim.linked or claim.prev_seq is None:
            return None
        found = claim_store.find_run(conn, job.row["id"], claim.boot_id, claim.prev_seq)
        if found is None:
            return None
        job.runs.append(found)
        return found if found.continued_by(claim) else None

    @staticmethod
    def _will_between(job: _Work, run: ClaimRow, claim: Claim) -> bool:
        """A standing will between an unlinked (schema 1) run and its next message: the run
        must not straddle it (nothing proves the agent observed across it)."""
        if run.linked:
            return False
        return any(run.ts_hi < r <= claim.ts_lo for r in job.standing_times(claim.boot_id))

    def _apply_status(
        self,
        conn: Connection,
        job: _Work,
        message: StatusMessage,
        boot_at: float,
        received: float,
    ) -> None:
        row = job.row
        row["_full"] = True
        if message.online:
            row["online"] = True
            row["online_changed_at"] = received
            row["boot_id"] = message.boot_id
            row["site"] = row["site"] or message.site
            if message.heartbeat_interval_s:
                row["heartbeat_interval_s"] = message.heartbeat_interval_s
            row["announced_stale_after_s"] = message.stale_after_s
            if not row["registered"]:
                row["name"] = _clip(message.name)
                row["unit"] = _clip(message.unit)
                if message.category in ("general", "specialised"):
                    row["category"] = message.category
            else:
                row["name"] = row["name"] or _clip(message.name)
                row["unit"] = row["unit"] or _clip(message.unit)
            return
        if row["boot_id"] in (None, message.boot_id):
            # A last will of an older boot (retained, redelivered) says nothing about this one's
            # connection; as evidence it still cuts that older boot's claims.
            row["online"] = False
            row["online_changed_at"] = received
        will = Will(boot_at, message.boot_id, received)
        job.note_boot(message.boot_id, boot_at)
        job.wills.append(WillRow(None, row["id"], will, message.seq, new=True))
        job.checks.add(message.boot_id)

    def _settle(
        self,
        conn: Connection,
        instrument_id: str,
        job: _Work,
        rewrites: list[tuple[str, float, float]],
    ) -> None:
        """After the evidence is stored: withdraw wills the chain now crosses, resolve the
        stretches that need it again, and find the new top rank."""
        changed_wills = bool(job.wills) and self._check_wills(conn, instrument_id, job)
        for lo in job.new_boots:
            hi = claim_store.max_end_after(conn, instrument_id, lo)
            if hi is not None:
                job.windows.append((lo, hi))
        before = job.last_ts_before
        if before is not None:
            # Paints that reach back before what was known: the sink rewrites them too.
            rewrites.extend((instrument_id, lo, hi) for lo, hi in job.canvas.touched if lo < before)
        if not job.windows and not changed_wills:
            # The usual batch: every message landed on top and was painted.
            job.row["top_claim_lo"] = job.top_run.seq_lo if job.top_run is not None else None
            return
        standing = claim_store.standing_wills_before(conn, instrument_id, _FOREVER)
        windows = _merged(job.windows)
        boots = claim_store.boots_of(conn, instrument_id) if windows else []
        for lo, hi in windows:
            claims = claim_store.overlapping(conn, instrument_id, lo, hi)
            pieces = known(paint(claims, standing, boots, lo, hi))
            if pieces != job.canvas.view(lo, hi):
                job.canvas.replace(lo, hi, pieces)
                if (lo, hi) not in job.quiet:
                    rewrites.append((instrument_id, lo, hi))
        self._retop(conn, job, standing)

    @staticmethod
    def _check_wills(conn: Connection, instrument_id: str, job: _Work) -> bool:
        """Withdraw the standing wills whose boot's chain now crosses them; note the stretches
        that new and withdrawn wills change. Returns whether any did."""
        changed = False
        for will in job.wills:
            if will.withdrawn or will.will.boot_id not in job.checks:
                continue
            boot_id, received = will.will.boot_id, will.will.received_at
            if claim_store.crossing(conn, instrument_id, boot_id, received):
                will.withdrawn = True
            if will.new or will.withdrawn:
                # A new will cuts what its boot claimed past it; a withdrawn one stops cutting.
                lo, hi, later = claim_store.window_bounds(conn, instrument_id, boot_id, received)
                job.windows.append((lo, hi))
                if will.new and not will.withdrawn and not later and boot_id == job.newest_boot:
                    # In order: the sink mirror's own unknown point at the will shows this cut.
                    job.quiet.append((lo, hi))
                changed = True
        withdrawn = [w for w in job.wills if w.withdrawn]
        if withdrawn:
            claim_store.write_wills(conn, withdrawn)
        return changed

    def _retop(self, conn: Connection, job: _Work, standing: Sequence[Will]) -> None:
        """The top rank and the current state from the stored evidence (after a slow path)."""
        rank, claim_lo = claim_store.top_rank(conn, job.row["id"], standing)
        row = job.row
        if rank is None:
            row["top_boot_at"] = row["top_boot_id"] = row["top_phase"] = row["top_seq"] = None
        else:
            row["top_boot_at"], row["top_boot_id"], row["top_phase"], row["top_seq"] = rank
        row["top_claim_lo"] = claim_lo
        self._current_state(conn, job, standing)

    @staticmethod
    def _current_state(conn: Connection, job: _Work, standing: Sequence[Will]) -> None:
        """The row's state is that of the highest-ranked claim that is not a closed record."""
        found = claim_store.top_claim(conn, job.row["id"], standing, open_only=True)
        if found is None:
            return
        key = (job.row["id"], found[0][1], found[1])
        run = claim_store.load_runs(conn, [key])[key]
        row = job.row
        if row["state"] != run.state:
            row["state"], row["state_since"] = run.state, run.start
        row["last_ts"] = run.ts_hi

    def _flush(
        self,
        conn: Connection,
        instruments: Mapping[str, dict[str, Any]],
        work: Mapping[str, _Work],
        sessions: list[dict[str, Any]],
        now: float,
    ) -> None:
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        grown: list[tuple[Any, ...]] = []
        deleted: list[int] = []
        today = datetime.fromtimestamp(now, self.zone).date()
        # Observations of today (nearly all of them) touch no closed day: skip the calendar.
        today_start = datetime.combine(today, dt_time(0), tzinfo=self.zone).timestamp()
        dirty: set[tuple[str, str]] = set()
        for instrument_id, job in work.items():
            diff = job.canvas.diff()
            deleted.extend(diff.deleted)
            inserts.extend((instrument_id, s.state, s.start, s.end) for s in diff.inserts)
            for span in diff.updates:
                if span.stored is not None and span.stored[0] == span.start:
                    # Most updates only move a run's end: leaving the indexed start alone is
                    # cheaper.
                    grown.append((span.state, span.end, span.id))
                else:
                    updates.append((span.state, span.start, span.end, span.id))
            for lo, hi in job.canvas.touched:
                if lo < today_start:
                    dirty.update(_days_before(instrument_id, lo, hi, today, self.zone))
        if deleted:
            many(conn, "DELETE FROM spans WHERE id = ?", [(i,) for i in deleted])
        many(conn, 'UPDATE spans SET state = ?, start = ?, "end" = ? WHERE id = ?', updates)
        many(conn, 'UPDATE spans SET state = ?, "end" = ? WHERE id = ?', grown)
        many(
            conn,
            'INSERT INTO spans (instrument_id, state, start, "end") VALUES (?, ?, ?, ?)',
            inserts,
        )
        t = tables.instruments
        # Heartbeats change only a few columns; status messages and new rows write them all.
        full = [c.name for c in t.columns if c.name not in ("id", "created_at")]
        for columns, rows in (
            (full, [r for r in instruments.values() if r.get("_full")]),
            (list(_HOT_COLUMNS), [r for r in instruments.values() if not r.get("_full")]),
        ):
            sql = f"UPDATE instruments SET {assignments(columns)} WHERE id = ?"  # noqa: S608
            values = itemgetter(*columns, "id")
            many(conn, sql, [values(row) for row in rows])
        if sessions:
            self._write_sessions(conn, sessions, now)
        many(
            conn,
            "INSERT INTO dirty_days (instrument_id, day, marked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (instrument_id, day) DO UPDATE SET marked_at = excluded.marked_at",
            [(i, d, now) for i, d in sorted(dirty)],
        )

    def _write_sessions(self, conn: Connection, sessions: list[dict[str, Any]], now: float) -> None:
        table = tables.sessions
        for values in sessions:
            stmt = upsert(conn, table).values(created_at=now, source="agent", **values)
            changes = {k: v for k, v in values.items() if v is not None and k != "external_id"}
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instrument_id", "source", "external_id"], set_=changes
                )
            )


# Column names are literals here; values are bound parameters.
_LATEST_SPANS_SQL = (
    'SELECT s.id, s.instrument_id, s.state, s.start, s."end" FROM spans s JOIN ('
    "SELECT instrument_id, MAX(start) AS start FROM spans WHERE instrument_id IN ({}) "
    "GROUP BY instrument_id) m ON s.instrument_id = m.instrument_id AND s.start = m.start"
)


def _span_loader(conn: Connection, instrument_id: str) -> Any:
    def load(lo: float, hi: float) -> list[Span]:
        rows = fetch(
            conn,
            'SELECT id, state, start, "end" FROM spans WHERE instrument_id = ? AND "end" > ? '
            "AND start < ?",
            (instrument_id, lo, hi),
        )
        return [Span(i, a, b, s, (a, b, s)) for i, s, a, b in rows]

    return load


def _boot_starts(items: Iterable[Incoming], wanted: set[str]) -> dict[str, float]:
    """``boot_at`` of new boots: announced (schema 2), else their earliest message time."""
    starts: dict[str, float] = {}
    for item in items:
        message = item.message
        if message.boot_id not in wanted:
            continue
        if message.boot_at is not None:
            starts[message.boot_id] = message.boot_at.timestamp()
            continue
        ts = message.ts.timestamp()
        if isinstance(message, StateMessage | HeartbeatMessage):
            ts = min(ts, message.since.timestamp())
        if message.boot_id not in starts or ts < starts[message.boot_id]:
            starts[message.boot_id] = ts
    return starts


def _merged(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return [(lo, hi) for lo, hi in out if hi > lo]


def _session_row(message: SessionMessage, ts: float) -> dict[str, Any]:
    return {
        "instrument_id": message.instrument,
        "external_id": message.session_id[:200],
        "user": _clip(message.user),
        "org": _clip(message.org),
        "user_type": message.user_type.value if message.user_type else None,
        "start_ts": ts if message.event == "start" else None,
        "end_ts": ts if message.event == "end" else None,
    }


def _days_before(
    instrument_id: str, lo: float, hi: float, today: Any, zone: ZoneInfo
) -> Iterable[tuple[str, str]]:
    """Closed days (before today, site time zone) that ``[lo, hi)`` touches: their roll-ups
    must be recomputed."""
    day = datetime.fromtimestamp(lo, zone).date()
    last = min(datetime.fromtimestamp(hi, zone).date(), today - timedelta(days=1))
    while day <= last:
        yield instrument_id, day.isoformat()
        day += timedelta(days=1)
