"""The InfluxDB sink: a non-blocking front for the collector's ingest path, a durable spool and a
sender that writes batches in order with retry and exponential backoff.

Theory of operation:

* ``write_*`` calls only append to an in-memory buffer under a lock, so ingest never waits for
  disk or network.
* The *spooler* thread moves the buffer into the SQLite spool every ``spool_interval_s`` (one
  transaction per tick). From there on a point survives an InfluxDB outage and a restart.
* The *sender* thread takes the oldest ``batch_size`` points, writes them and deletes them only
  after InfluxDB accepted them, so points arrive in order and none is lost. Outages back off
  exponentially; a rejected batch (HTTP 400) is bisected until the bad points are isolated and
  dropped (counted), so one bad point never blocks the rest.
* Late data: :meth:`InfluxSink.rewrite_states` overwrites every state point already written in a
  range (found through the spool's ``state_marks``) with the corrected state, because InfluxDB
  replaces a point with the same measurement, tags and time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from pydantic import BaseModel

from jishi.backoff import Backoff
from jishi.collector.sink.config import SinkConfig
from jishi.collector.sink.points import (
    DailyUsage,
    InstrumentMeta,
    Point,
    StateFacts,
    StateInterval,
    daily_usage_point,
    encode_line,
    health_point,
    readings_point,
    sink_point,
    state_at,
    state_point,
    to_ns,
)
from jishi.collector.sink.spool import Spool, SpoolError
from jishi.collector.sink.stats import SinkStats
from jishi.collector.sink.writers import (
    BatchTooLargeError,
    RejectedWriteError,
    RetryableWriteError,
    Writer,
    writer_for,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Rewrite:
    meta: InstrumentMeta
    start: datetime
    end: datetime
    intervals: tuple[StateInterval, ...]


class InfluxSink:
    """Mirror of states, readings, agent health and daily usage into InfluxDB."""

    def __init__(
        self,
        *,
        config: SinkConfig,
        writer: Writer,
        spool: Spool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._writer = writer
        self._spool = spool
        self._clock = clock
        self._buffer: list[Point | _Rewrite] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_send = threading.Event()
        self._idle = threading.Condition()
        # Jitter: several collectors must not retry a shared InfluxDB in step.
        self._backoff = Backoff(config.retry_min_s, config.retry_max_s, jitter=0.1)
        self._limit = config.batch_size
        self.stats = SinkStats(backend=writer.name, url=config.url)
        self._threads: list[threading.Thread] = []
        self._in_transit = 0
        self._reasserted: dict[str, float] = {}  # instrument key -> ts of last re-assertion

    @classmethod
    def from_config(cls, config: SinkConfig, data_dir: Path) -> InfluxSink:
        """The writer for ``config.api`` (secrets are read here, at the edge) and the spool."""
        writer = writer_for(config)
        spool = Spool(config.spool_file(data_dir), config.max_spool_points)
        return cls(config=config, writer=writer, spool=spool)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> InfluxSink:
        for name, target in (("spooler", self._spool_loop), ("sender", self._send_loop)):
            thread = threading.Thread(target=target, name=f"jishi-sink-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Spool what is buffered, try to send it for up to ``timeout_s``, then stop. Anything not
        sent stays in the spool for the next start."""
        self.flush(timeout_s)
        self._stop.set()
        self._wake_send.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s + self.config.timeout_s)
        self._move_buffer_to_spool()
        self._writer.close()
        self._spool.close()
        self.stats.stopped = True

    def flush(self, timeout_s: float) -> bool:
        """Wait until buffer and spool are empty (every point written); False on timeout."""
        deadline = time.monotonic() + timeout_s
        self._wake_send.set()
        with self._idle:
            while self._pending() > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._threads or self._stop.is_set():
                    return False
                self._idle.wait(min(remaining, 0.1))
                self._wake_send.set()
        return True

    # --- ingest API (thread-safe, never blocks on I/O) --------------------------------------

    def write(self, points: Iterable[Point]) -> None:
        items = list(points)
        if not items:
            return
        with self._lock:
            self._buffer.extend(items)
            overflow = len(self._buffer) - self.config.max_spool_points
            if overflow > 0:  # the spool is failing for a long time: keep the newest
                del self._buffer[:overflow]
                self.stats.points_dropped += overflow
        self.stats.points_enqueued += len(items)

    def write_state(
        self, meta: InstrumentMeta, ts: datetime, state: str, **facts: Unpack[StateFacts]
    ) -> None:
        """A state from ``ts`` on: call at every transition, including ``unknown`` when the
        collector declares the instrument stale (``ts`` = when data stopped being fresh) or
        offline (``ts`` = receive time of the will, ``online=False``)."""
        with self._lock:
            self._reasserted[meta.key] = ts.timestamp()
        self.write([state_point(meta, ts, state, **facts)])

    def write_heartbeat(
        self,
        meta: InstrumentMeta,
        ts: datetime,
        *,
        state: str,
        since: datetime | None = None,
        readings: Mapping[str, object] | None = None,
        health: Mapping[str, object] | BaseModel | None = None,
        heartbeat_interval_s: float | None = None,
    ) -> None:
        """One fresh heartbeat: readings and health always; the current state is re-asserted at
        most every ``state_refresh_s`` per instrument so "last seen" stays current and every
        time window holds a state point without a point per heartbeat."""
        if readings:
            self.write_readings(meta, ts, readings)
        if health is not None:
            self.write_health(meta, ts, health, heartbeat_interval_s=heartbeat_interval_s)
        ts_s = ts.timestamp()
        with self._lock:
            last = self._reasserted.get(meta.key)
            due = last is None or ts_s - last >= self.config.state_refresh_s or ts_s < last
            if due:
                self._reasserted[meta.key] = ts_s
        if due:
            self.write([state_point(meta, ts, state, since=since, last_seen=ts)])

    def write_readings(
        self, meta: InstrumentMeta, ts: datetime, readings: Mapping[str, object]
    ) -> None:
        point = readings_point(meta, ts, readings)
        if point is not None:
            self.write([point])

    def write_health(
        self,
        meta: InstrumentMeta,
        ts: datetime,
        health: Mapping[str, object] | BaseModel,
        *,
        heartbeat_interval_s: float | None = None,
    ) -> None:
        values: Mapping[str, Any] = health.model_dump() if isinstance(health, BaseModel) else health
        point = health_point(meta, ts, values, heartbeat_interval_s=heartbeat_interval_s)
        if point is not None:
            self.write([point])

    def write_daily_usage(self, meta: InstrumentMeta, usage: DailyUsage) -> None:
        """A day's roll-up; calling again for the same day overwrites it (late data)."""
        self.write([daily_usage_point(meta, usage)])

    def rewrite_states(
        self,
        meta: InstrumentMeta,
        start: datetime,
        end: datetime,
        intervals: Sequence[StateInterval],
    ) -> None:
        """Late data changed history in ``[start, end)``: write the corrected ``intervals``
        (the ledger's timeline over at least that range) and overwrite every state point this
        sink wrote in the range, so no stale ``unknown`` survives the correction."""
        with self._lock:
            self._buffer.append(_Rewrite(meta, start, end, tuple(intervals)))

    # --- status ---------------------------------------------------------------------------

    def _pending(self) -> int:
        with self._lock:
            buffered = len(self._buffer) + self._in_transit
        return buffered + self._spool.depth

    def status(self) -> dict[str, Any]:
        """For ``/api/v1/health``: is the mirror keeping up, and if not, why."""
        with self._lock:
            buffered = len(self._buffer)
        oldest = self._spool.oldest_enqueued_s() if self._spool.depth else None
        return self.stats.status(
            spool_depth=self._spool.depth,
            buffered=buffered,
            oldest_unsent_s=None if oldest is None else max(0.0, self._clock() - oldest),
        )

    def counters(self) -> dict[str, float]:
        """For ``/metrics``: Prometheus sample name -> value."""
        return self.stats.counters(spool_depth=self._spool.depth)

    def metrics_text(self) -> str:
        """The counters in Prometheus text exposition format."""
        return self.stats.metrics_text(spool_depth=self._spool.depth)

    # --- spooler thread -------------------------------------------------------------------

    def _spool_loop(self) -> None:
        next_report = time.monotonic() + self.config.self_report_interval_s
        next_prune = time.monotonic()
        while not self._stop.wait(self.config.spool_interval_s):
            now = time.monotonic()
            if self.config.self_report_interval_s and now >= next_report:
                next_report = now + self.config.self_report_interval_s
                self.write([self._self_point()])
            if now >= next_prune:
                next_prune = now + 3600
                self._prune_marks()
            self._move_buffer_to_spool()

    def _self_point(self) -> Point:
        status = self.status()
        fields = {
            "spool_depth": float(status["spool_depth"]),
            "points_written": float(status["points_written"]),
            "points_dropped": float(status["points_dropped"]),
            "points_rejected": float(status["points_rejected"]),
            "write_errors": float(status["write_errors"]),
        }
        return sink_point(
            self.config.collector_name, datetime.fromtimestamp(self._clock(), UTC), fields
        )

    def _prune_marks(self) -> None:
        horizon = self._clock() - self.config.state_index_days * 86_400
        try:
            self._spool.prune_marks(int(horizon * 1e9))
        except SpoolError as exc:
            self.stats.record_spool_error(str(exc))

    def _move_buffer_to_spool(self) -> None:
        with self._lock:
            items, self._buffer = self._buffer, []
            self._in_transit = len(items)  # still pending for flush() until spooled
        if not items:
            return
        try:
            self._spool_items(items)
        finally:
            with self._lock:
                self._in_transit = 0

    def _spool_items(self, items: list[Point | _Rewrite]) -> None:
        lines: list[str] = []
        marks: list[tuple[str, int]] = []
        try:
            for item in items:
                if isinstance(item, _Rewrite):
                    self._append(lines, marks)  # earlier marks must be visible to the rewrite
                    lines, marks = [], []
                    self._expand_rewrite(item, lines, marks)
                    self._append(lines, marks)
                    lines, marks = [], []
                    continue
                try:
                    lines.append(encode_line(item))
                except ValueError as exc:
                    self.stats.points_rejected += 1
                    log.warning("influx sink: point not encodable: %s", exc)
                    continue
                if item.state_key is not None:
                    marks.append((item.state_key, item.ts_ns))
            self._append(lines, marks)
        except SpoolError as exc:
            # Keep the points in memory (in order, ahead of newer ones) and retry next tick.
            self.stats.record_spool_error(str(exc))
            log.exception("influx sink: spool write failed")
            with self._lock:
                self._buffer[:0] = items
            return
        if self._spool.depth >= self._limit:
            self._wake_send.set()

    def _append(self, lines: list[str], marks: list[tuple[str, int]]) -> None:
        dropped = self._spool.append(lines, marks, self._clock())
        if dropped:
            self.stats.points_dropped += dropped
            log.error("influx sink: spool full, dropped the %d oldest points", dropped)

    def _expand_rewrite(
        self, item: _Rewrite, lines: list[str], marks: list[tuple[str, int]]
    ) -> None:
        start_ns, end_ns = to_ns(item.start), to_ns(item.end)
        times = set(self._spool.marks_between(item.meta.key, start_ns, end_ns))
        by_ns: dict[int, datetime] = {}
        for interval in item.intervals:
            clipped = max(interval.start, item.start)
            if clipped < min(interval.end, item.end):
                by_ns[to_ns(clipped)] = clipped
        times.update(by_ns)
        for ts_ns in sorted(times):
            ts = by_ns.get(ts_ns) or datetime.fromtimestamp(ts_ns / 1e9, UTC)
            state = state_at(item.intervals, ts)
            since = next((i.start for i in item.intervals if i.start <= ts < i.end), ts)
            point = state_point(item.meta, ts, state, online=state != "unknown", since=since)
            # Keep the exact nanosecond of the point being overwritten (float rounding above).
            point = Point(point.measurement, point.tags, point.fields, ts_ns, point.state_key)
            lines.append(encode_line(point))
            marks.append((item.meta.key, ts_ns))

    # --- sender thread --------------------------------------------------------------------

    def _send_loop(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            if delay > 0:
                self.stats.next_retry_at = time.monotonic() + delay
                if self._stop.wait(delay):
                    return
                self.stats.next_retry_at = None
            else:
                self._wake_send.wait(self.config.flush_interval_s)
                self._wake_send.clear()
            delay = self._send_available()
            with self._idle:
                self._idle.notify_all()

    def _send_available(self) -> float:
        """Send batches until the spool is empty; returns the backoff delay after a failure."""
        while not self._stop.is_set():
            batch = self._spool.peek(self._limit)
            if not batch:
                return 0.0
            lines = [line for _, line in batch]
            try:
                self._writer.write(lines)
            except RetryableWriteError as exc:
                self.stats.record_write_error(str(exc), self._clock())
                delay = self._backoff.next_delay()
                log.warning("influx sink: write failed (%s); retry in %.1f s", exc, delay)
                return delay
            except (BatchTooLargeError, RejectedWriteError) as exc:
                if len(batch) == 1:
                    self._reject(batch, str(exc))
                else:
                    # Bisect: the good points are rewritten (idempotent), the bad one isolated.
                    self._limit = max(1, len(batch) // 2)
                continue
            # Counters first: flush() returns as soon as the spool is empty.
            self.stats.record_written(len(batch), self._clock())
            self._spool.delete_through(batch[-1][0])
            self._backoff.reset()
            self._limit = min(self.config.batch_size, self._limit * 2)
        return 0.0

    def _reject(self, batch: list[tuple[int, str]], reason: str) -> None:
        self._spool.delete_through(batch[-1][0])
        self.stats.points_rejected += len(batch)
        log.error("influx sink: InfluxDB rejected a point (%s): %.200s", reason, batch[0][1])
