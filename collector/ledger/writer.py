"""Writes one batch of received messages into the ledger in one transaction.

Theory of operation. A batch is dead letters plus accepted wire messages. In one transaction:

1. lock the instruments the batch touches (sorted, so two collectors cannot deadlock;
   :mod:`.instruments`) and refuse messages naming another site than the instrument's;
2. dedupe on ``(boot_id, seq)``, learn each boot's place in the order, refuse a schema 2 boot
   id used by another instrument (:mod:`.boots`);
3. store each ``state``/``hb`` message as evidence and keep the spans right, instrument by
   instrument (:mod:`.instrument_work`: the newest knowledge paints, anything else resolves
   its stretch again with the pure engine, :mod:`jishi.collector.usage.evidence`);
4. write the claims, wills, spans, instrument rows, agent sessions, and the closed days whose
   roll-ups must be recomputed.

The caller acknowledges the MQTT messages only after the commit, so a crash loses nothing: the
broker redelivers and the dedupe drops what was already stored. The result does not depend on
arrival order or batching (tests/collector/ledger/test_writer_properties.py).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select

from jishi.agent.wire import (
    DEFAULT_TOPIC_ROOT,
    HeartbeatMessage,
    SessionMessage,
    StateMessage,
    StatusMessage,
)
from jishi.collector.config import InstrumentEntry
from jishi.collector.ledger import claims, tables
from jishi.collector.ledger import instruments as instruments_store
from jishi.collector.ledger.batch import BatchOutcome, DeadLetter, Incoming, Reason, refuse
from jishi.collector.ledger.boots import BootInfo, dedupe
from jishi.collector.ledger.claims import ClaimRow
from jishi.collector.ledger.clocks import next_offset
from jishi.collector.ledger.instrument_work import InstrumentWork, TopKey, load_work, top_key
from jishi.collector.ledger.instruments import InstrumentRecord, NewInstrumentLimit
from jishi.collector.ledger.sql import many, upsert
from jishi.collector.usage.policy import DEFAULT_MERGE_GAP_S

_MAX_TEXT = 200


class LedgerWriter:
    """Applies batches. Several threads or processes may write (each batch locks the rows it
    touches); besides configuration a writer keeps only a cache of each instrument's newest
    run, checked against the locked instrument row before use."""

    def __init__(
        self,
        registry: Mapping[str, InstrumentEntry],
        timezone: str,
        dead_letter_max_bytes: int,
        *,
        topic_root: str = DEFAULT_TOPIC_ROOT,
        new_instruments: NewInstrumentLimit | None = None,
        context_s: float = DEFAULT_MERGE_GAP_S,
    ) -> None:
        self.registry = registry
        # How far the usage rules reach beyond a change (``Policy.context_s``): a day's roll-up
        # depends on data that far into the next or previous day, so late data marks those too.
        self.context_s = context_s
        # Open registry: how many instruments messages alone may create (None: no bound).
        self.new_instruments = new_instruments
        self.topic_root = topic_root
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
        incoming = [i for i in items if isinstance(i, Incoming)]
        first: dict[str, str] = {}
        for item in incoming:
            first.setdefault(item.message.instrument, item.message.site)
        instruments = instruments_store.lock(conn, self.registry, first, now, self.new_instruments)
        incoming, limited = self._over_limit(instruments, incoming)
        # Before the dedupe: another site's message must not even mark a seq as seen.
        incoming, foreign = instruments_store.split_by_site(instruments, incoming, self.topic_root)
        fresh, boots, refused = dedupe(conn, incoming, now, self.topic_root)
        dead = [item for item in items if isinstance(item, DeadLetter)]
        dead += limited + foreign + refused
        dead, repeated = _new_dead_letters(conn, dead)
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
                        "fingerprint": d.fingerprint(),
                    }
                    for d in dead
                ],
            )
            outcome.dead.update(d.reason.value for d in dead)
        outcome.duplicates = len(incoming) - len(fresh) - len(refused) + repeated
        if fresh:
            outcome.fresh = fresh
            outcome.rows, outcome.rewrites = self._apply(conn, fresh, instruments, boots, now)
        outcome.stored = len(fresh)
        return outcome

    def _over_limit(
        self, instruments: Mapping[str, InstrumentRecord], incoming: list[Incoming]
    ) -> tuple[list[Incoming], list[DeadLetter]]:
        """Messages about instruments the open registry's limit left uncreated: dead letters."""
        if len(instruments) == len({i.message.instrument for i in incoming}):
            return incoming, []
        limit = self.new_instruments
        assert limit is not None  # without a limit every instrument is created
        detail = (
            f"a new instrument beyond the open registry's limit ({limit.per_hour} new per hour, "
            f"{limit.total} unregistered in all); register it in [[instruments]] or raise "
            "ingest.max_new_instruments_per_hour / ingest.max_unregistered_instruments"
        )
        kept: list[Incoming] = []
        limited: list[DeadLetter] = []
        for item in incoming:
            if item.message.instrument in instruments:
                kept.append(item)
            else:
                limited.append(refuse(item, Reason.REGISTRY_LIMIT, detail, self.topic_root))
        return kept, limited

    def _apply(
        self,
        conn: Connection,
        items: list[Incoming],
        locked: Mapping[str, InstrumentRecord],
        boots: Mapping[str, BootInfo],
        now: float,
    ) -> tuple[dict[str, InstrumentRecord], list[tuple[str, float, float]]]:
        by_instrument: dict[str, list[Incoming]] = defaultdict(list)
        for item in items:
            by_instrument[item.message.instrument].append(item)
        instruments = {i: locked[i] for i in by_instrument}
        work = load_work(conn, instruments, by_instrument, self._top_runs(conn, instruments))
        sessions: list[dict[str, Any]] = []
        for instrument_id, incoming in by_instrument.items():
            job = work[instrument_id]
            # Knowledge order: most of a batch then lands above what is stored.
            incoming.sort(
                key=lambda i: (boots[i.message.boot_id].key, i.message.boot_id, i.message.seq)
            )
            for item in incoming:
                _apply_one(conn, job, item, boots[item.message.boot_id].key, sessions)
        claims.write_claims(conn, [run for job in work.values() for run in job.runs])
        self._remember_tops(work)
        claims.write_wills(conn, [w for job in work.values() for w in job.wills])
        rewrites: list[tuple[str, float, float]] = []
        for job in work.values():
            job.settle(conn, rewrites)
        self._flush(conn, instruments, work, sessions, now)
        return instruments, rewrites

    def _top_runs(
        self, conn: Connection, instruments: Mapping[str, InstrumentRecord]
    ) -> dict[TopKey, ClaimRow]:
        """Each instrument's newest run: from the cache when it matches the row, else loaded."""
        tops: dict[TopKey, ClaimRow] = {}
        missing: list[TopKey] = []
        with self._tops_lock:
            for row in instruments.values():
                key = top_key(row)
                if key is None:
                    continue
                cached = self._tops.get(row.id)
                if (
                    cached is not None
                    and (cached[0], cached[2], cached[3]) == key
                    and (cached[4] == row.top_seq)
                ):
                    tops[key] = ClaimRow.from_values(cached)
                else:
                    missing.append(key)
        if missing:
            tops.update(claims.load_runs(conn, missing))
        return tops

    def _remember_tops(self, work: Mapping[str, InstrumentWork]) -> None:
        with self._tops_lock:
            for instrument_id, job in work.items():
                # Only a linked run's content is fixed by its key and last seq (schema 1 runs
                # take whatever message arrived next).
                if job.top_run is not None and job.top_run.claim.linked:
                    self._tops[instrument_id] = job.top_run.values()
                else:
                    self._tops.pop(instrument_id, None)

    def _flush(
        self,
        conn: Connection,
        instruments: Mapping[str, InstrumentRecord],
        work: Mapping[str, InstrumentWork],
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
                if lo - self.context_s < today_start:
                    reach = (lo - self.context_s, hi + self.context_s)
                    dirty.update(_days_before(instrument_id, *reach, today, self.zone))
        if deleted:
            many(conn, "DELETE FROM spans WHERE id = ?", [(i,) for i in deleted])
        many(conn, 'UPDATE spans SET state = ?, start = ?, "end" = ? WHERE id = ?', updates)
        many(conn, 'UPDATE spans SET state = ?, "end" = ? WHERE id = ?', grown)
        many(
            conn,
            'INSERT INTO spans (instrument_id, state, start, "end") VALUES (?, ?, ?, ?)',
            inserts,
        )
        instruments_store.write(conn, instruments.values())
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


def _new_dead_letters(conn: Connection, dead: list[DeadLetter]) -> tuple[list[DeadLetter], int]:
    """The dead letters to store, and how many were dropped: a retained message the ledger
    already holds as a dead letter (the broker resends it at every subscription, so without
    this each collector start added it again) is kept once per (topic, payload)."""
    prints = {p for d in dead if (p := d.fingerprint()) is not None}
    if not prints:
        return dead, 0
    d_table = tables.dead_letters
    seen = set(
        conn.execute(
            select(d_table.c.fingerprint).where(d_table.c.fingerprint.in_(sorted(prints)))
        ).scalars()
    )
    kept: list[DeadLetter] = []
    for letter in dead:
        fingerprint = letter.fingerprint()
        if fingerprint is not None:
            if fingerprint in seen:
                continue
            seen.add(fingerprint)  # twice in one batch: once
        kept.append(letter)
    return kept, len(dead) - len(kept)


def _apply_one(
    conn: Connection,
    job: InstrumentWork,
    item: Incoming,
    boot_key: float,
    sessions: list[dict[str, Any]],
) -> None:
    message, received = item.message, item.received_at
    row = job.row
    row.last_seen = max(row.last_seen or 0.0, received)
    if not message.historical and isinstance(message, StateMessage | HeartbeatMessage):
        row.clock_offset_s = next_offset(row.clock_offset_s, message.ts.timestamp(), received)
    if not row.site:  # registered before it ever reported (registry_sync)
        row.site, row.full = message.site, True
    if isinstance(message, StatusMessage):
        job.status(message, boot_key, received)
    elif isinstance(message, SessionMessage):
        sessions.append(_session_row(message, message.ts.timestamp()))
    elif isinstance(message, StateMessage | HeartbeatMessage):
        job.observe(conn, message, boot_key)


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_TEXT]


def _session_row(message: SessionMessage, ts: float) -> dict[str, Any]:
    return {
        "instrument_id": message.instrument,
        "external_id": message.session_id[:200],
        "user": _clip(message.user),
        "org": _clip(message.org),
        "user_type": message.user_type.value if message.user_type else None,
        "start_ts": ts if message.event == "start" else None,
        "end_ts": ts if message.event == "end" else None,
        "end_reason": _clip(message.reason) if message.event == "end" else None,
        "outcome": message.outcome,
        "sample_count": message.sample_count,
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
