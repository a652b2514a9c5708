"""What the collector mirrors into the InfluxDB sink, and when (the glue between ledger and sink).

Theory of operation. The ingest path hands :meth:`SinkMirror.on_batch` every message it stored,
after the ledger commit, with the instruments' rows; the mirror turns them into sink calls, which
only append to memory. It remembers per instrument what it mirrored last (state, newest data
time, fresh-until), so that:

* a state change, a will (``unknown``, offline) and the first message after an unknown stretch
  become explicit state points; heartbeats re-assert the state only now and then (the sink);
* a gap in the data (next observation after ``fresh_until``) writes ``unknown`` at the moment
  data stopped being fresh, exactly where the ledger's timeline has it;
* :meth:`SinkMirror.sweep`, run periodically by the service, writes ``unknown`` for instruments
  whose data went stale without any later message (heartbeats stopped), and asks the sink to
  rewrite the state points of ranges that late (replayed) data corrected.

Times are data times (message ``ts``, will receive time), never the sweep's wall clock, so a
point lands where the ledger puts the change however late the sweep runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jishi.agent.wire import AgentHealth, HeartbeatMessage, StateMessage, StatusMessage
from jishi.collector.ledger.batch import Incoming
from jishi.collector.ledger.instruments import InstrumentRecord
from jishi.collector.sink import DailyUsage, InfluxSink, InstrumentMeta, StateInterval
from jishi.collector.usage.freshness import stale_after_of

log = logging.getLogger(__name__)
UNKNOWN = "unknown"


def dt(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def meta_of(row: Mapping[str, Any], site: str | None = None) -> InstrumentMeta:
    """The sink tags of an instrument row (the ledger's site, unit and category)."""
    return InstrumentMeta(
        site=row.get("site") or site or "none",
        instrument=row["id"],
        unit=row.get("unit"),
        category=row.get("category"),
    )


@dataclass
class _Mirrored:
    meta: InstrumentMeta
    stale_s: float
    state: str | None = None  # last state point written; None: not known (e.g. after a restart)
    online: bool = True
    last_ts: float | None = None  # newest fresh observation
    fresh_until: float | None = None
    unknown_at: float | None = None  # time of the last unknown point written


class SinkMirror:
    """Turns stored messages, staleness and roll-ups into sink calls; thread-safe."""

    def __init__(self, sink: InfluxSink) -> None:
        self.sink = sink
        self._lock = threading.Lock()
        self._known: dict[str, _Mirrored] = {}
        self._rewrites: dict[str, tuple[InstrumentMeta, float, float]] = {}

    # --- ingest hook (writer thread, after commit; memory only) -----------------------------

    def on_batch(
        self,
        fresh: Sequence[Incoming],
        records: Mapping[str, InstrumentRecord],
        rewrites: Sequence[tuple[str, float, float]] = (),
    ) -> None:
        """``rewrites``: stretches of the past the ledger resolved again (records read late,
        wills and their withdrawal); their state points are rewritten by the next sweep."""
        rows = {key: record.as_dict() for key, record in records.items()}
        with self._lock:
            for item in fresh:
                row = rows.get(item.message.instrument)
                if row is not None:
                    self._on_message(item, row)
            for instrument, lo, hi in rewrites:
                row = rows.get(instrument)
                if row is not None:
                    entry = self._entry(row, row.get("site") or "none")
                    self._schedule_rewrite(entry, lo, hi)

    def _entry(self, row: Mapping[str, Any], site: str) -> _Mirrored:
        meta, stale_s = meta_of(row, site), stale_after_of(row)
        entry = self._known.get(row["id"])
        if entry is None:
            entry = self._known[row["id"]] = _Mirrored(meta, stale_s)
        entry.meta, entry.stale_s = meta, stale_s  # a birth may have changed unit or interval
        return entry

    def _on_message(self, item: Incoming, row: Mapping[str, Any]) -> None:
        message = item.message
        entry = self._entry(row, message.site)
        if isinstance(message, StatusMessage):
            if (
                not message.online
                and not row.get("online")
                and row.get("boot_id")
                in (
                    None,
                    message.boot_id,
                )
            ):
                # The will: unknown and offline from its receive time (as the ledger has it).
                self._write_unknown(entry, item.received_at, online=False)
            return
        if not isinstance(message, StateMessage | HeartbeatMessage):
            return  # sessions are not mirrored
        if isinstance(message, StateMessage) and message.until is not None:
            # A closed record tells the past: the ledger's rewrite of its stretch shows it.
            if message.readings:
                self.sink.write_readings(entry.meta, message.since, message.readings)
            return
        ts = message.ts.timestamp()
        start = min(message.since.timestamp(), ts) if isinstance(message, StateMessage) else ts
        if entry.last_ts is not None and ts < entry.last_ts:
            self._on_late(entry, message, start, ts)
            return
        if entry.unknown_at is not None and start < entry.unknown_at:
            # A replay fills time already mirrored as unknown: rewrite it from the ledger.
            self._schedule_rewrite(entry, start, max(ts + entry.stale_s, entry.unknown_at + 1e-3))
        if (
            entry.fresh_until is not None
            and entry.state not in (None, UNKNOWN)
            and entry.fresh_until < start
        ):
            # Data stopped being fresh before this message: the gap is unknown, as in the ledger.
            self._write_unknown(entry, entry.fresh_until, online=entry.online)
        self._write_live(entry, message, row.get("clock_offset_s"))
        entry.state, entry.online, entry.last_ts = message.state.value, True, ts
        entry.fresh_until = max(entry.fresh_until or ts, ts + entry.stale_s)

    def _write_live(
        self,
        entry: _Mirrored,
        message: StateMessage | HeartbeatMessage,
        clock_offset_s: float | None = None,
    ) -> None:
        """The state point (on a change), and the readings and health a message carries (with
        the collector's estimate of the agent's clock offset where the agent gives none)."""
        state = message.state.value
        if isinstance(message, StateMessage) or entry.state != state:
            reason = message.reason if isinstance(message, StateMessage) else None
            self.sink.write_state(
                entry.meta,
                message.ts,
                state,
                since=message.since,
                last_seen=message.ts,
                reason=reason or None,
            )
        if isinstance(message, StateMessage):
            if message.readings:
                self.sink.write_readings(entry.meta, message.ts, message.readings)
            return
        self.sink.write_heartbeat(
            entry.meta,
            message.ts,
            state=state,
            since=message.since,
            readings=message.readings,
            health=_with_offset(message.health, clock_offset_s),
            heartbeat_interval_s=message.interval_s,
        )

    def _on_late(
        self, entry: _Mirrored, message: StateMessage | HeartbeatMessage, start: float, ts: float
    ) -> None:
        """Older than what was mirrored (a replay): readings and health go in at their time;
        the state points of the range are rewritten from the ledger by the next sweep."""
        if message.readings:
            self.sink.write_readings(entry.meta, message.ts, message.readings)
        if isinstance(message, HeartbeatMessage):
            self.sink.write_health(
                entry.meta, message.ts, message.health, heartbeat_interval_s=message.interval_s
            )
        self._schedule_rewrite(entry, start, ts + entry.stale_s)

    def _schedule_rewrite(self, entry: _Mirrored, lo: float, hi: float) -> None:
        _merge(self._rewrites, entry.meta, lo, hi)

    def _write_unknown(self, entry: _Mirrored, at: float, *, online: bool) -> None:
        self.sink.write_state(
            entry.meta,
            dt(at),
            UNKNOWN,
            online=online,
            since=dt(at),
            last_seen=None if entry.last_ts is None else dt(entry.last_ts),
        )
        entry.state, entry.online, entry.unknown_at = UNKNOWN, online, at

    # --- the periodic sweep (service thread) ------------------------------------------------

    def prime(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """At start: what the ledger knows, so instruments gone stale while the collector was
        down get their ``unknown`` point (re-writing an existing one is harmless)."""
        with self._lock:
            for row in rows:
                if row["id"] in self._known or row.get("last_ts") is None:
                    continue
                entry = self._entry(row, row.get("site") or "none")
                entry.last_ts = float(row["last_ts"])
                entry.fresh_until = entry.last_ts + entry.stale_s
                entry.online = bool(row.get("online", True))
                # Offline rows had their unknown point written at the will already.
                entry.state = None if entry.online else UNKNOWN

    def sweep(self, now: float) -> int:
        """Write ``unknown`` at ``fresh_until`` for every instrument whose data went stale;
        returns how many."""
        count = 0
        with self._lock:
            for entry in self._known.values():
                if (
                    entry.state != UNKNOWN
                    and entry.fresh_until is not None
                    and now > entry.fresh_until
                ):
                    self._write_unknown(entry, entry.fresh_until, online=entry.online)
                    count += 1
        return count

    def take_rewrites(self) -> list[tuple[InstrumentMeta, float, float]]:
        """Ranges that late data changed since the last call: ``(meta, start, end)``."""
        with self._lock:
            pending, self._rewrites = list(self._rewrites.values()), {}
        return pending

    def requeue(self, pending: Iterable[tuple[InstrumentMeta, float, float]]) -> None:
        """Ranges a failed pass could not rewrite: merged back for the next sweep."""
        with self._lock:
            for meta, lo, hi in pending:
                _merge(self._rewrites, meta, lo, hi)

    def rewrite(
        self, meta: InstrumentMeta, start: float, end: float, intervals: Iterable[Any]
    ) -> None:
        """Send the ledger's timeline over ``[start, end)`` (``Interval`` objects) to the sink."""
        self.sink.rewrite_states(
            meta,
            dt(start),
            dt(end),
            [StateInterval(dt(i.start), dt(i.end), i.state) for i in intervals],
        )

    # --- daily roll-ups ---------------------------------------------------------------------

    def on_rollup(
        self, row: Mapping[str, Any], day_start: float, day_end: float, figures: Mapping[str, float]
    ) -> None:
        """A (re)computed day: same timestamp and tags, so InfluxDB replaces the earlier point."""
        self.sink.write_daily_usage(
            meta_of(row), DailyUsage(dt(day_start), dt(day_end), dict(figures))
        )


def _merge(
    rewrites: dict[str, tuple[InstrumentMeta, float, float]],
    meta: InstrumentMeta,
    lo: float,
    hi: float,
) -> None:
    """One pending range per instrument: the union's hull (rewriting more is harmless)."""
    held = rewrites.get(meta.instrument)
    if held is not None:
        lo, hi = min(lo, held[1]), max(hi, held[2])
    rewrites[meta.instrument] = (meta, lo, hi)


def _with_offset(health: AgentHealth, clock_offset_s: float | None) -> AgentHealth:
    if health.clock_offset_s is not None or clock_offset_s is None:
        return health
    return health.model_copy(update={"clock_offset_s": round(clock_offset_s, 3)})
