"""The ingest pipeline: received MQTT messages -> validated batches -> ledger -> MQTT acks.

One writer thread drains a queue that the MQTT network thread fills. Batching adapts to load:
the writer takes whatever has queued up (at most ``batch_max``), commits, then acknowledges the
batch's messages to the broker. Bad input becomes dead letters; a database outage stops the
acks (the broker keeps the messages) and is retried with back-off. Which failures are the
database's (a lost connection, a missing table, permission denied, a full disk) and which are a
message's (a value the database refuses) is decided in ledger/failures.py. Ingest never stops
on input.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from jishi.backoff import Backoff
from jishi.collector.ingest.intake import Accepted, Limits, classify
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ledger.batch import BatchOutcome, DeadLetter, Incoming, Reason
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.failures import LedgerUnavailable, database_unavailable, reason_of
from jishi.collector.ledger.writer import LedgerWriter

log = logging.getLogger(__name__)

# Pauses between retries of a batch while the database is unreachable: doubling, no jitter
# (one writer per collector; the broker holds the unacknowledged messages meanwhile).
LEDGER_RETRY_MIN_S = 0.2
LEDGER_RETRY_MAX_S = 10.0


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 4x, per message
class Received:
    """One MQTT message as the network thread hands it over."""

    topic: str
    payload: bytes
    received_at: float
    mid: int = 0
    qos: int = 0
    generation: int = 0
    # The broker's retain flag: a retained message comes again with every new subscription.
    retain: bool = False


Acker = Callable[[Sequence[Received]], None]
# Called with each committed batch's outcome (the InfluxDB mirror); must only touch memory.
StoredHook = Callable[[BatchOutcome], None]


class ReceiveQueue:
    """The MQTT network thread's side of ingest: a queue with back-pressure, taken in batches
    by the writer (:class:`Pipeline`) or by the sender to a worker process
    (:class:`~jishi.collector.ingest.worker.ProcessPipeline`)."""

    def __init__(  # noqa: PLR0917 - the subclasses pass their own keyword arguments on
        self,
        metrics: IngestMetrics,
        acker: Acker,
        clock: Callable[[], float],
        batch_max: int,
        batch_wait_s: float,
        max_queued: int | None,
    ) -> None:
        self.metrics = metrics
        self.acker = acker  # PUBACKs, after the commit
        self.clock = clock
        self._stop = threading.Event()
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.queue: queue.SimpleQueue[Received] = queue.SimpleQueue()
        # Received but not yet taken, before the network thread waits.
        self.max_queued = max_queued if max_queued is not None else 2 * batch_max
        self._room = threading.Event()
        self.idle = threading.Event()

    def submit(self, item: Received) -> None:
        """Called from the MQTT thread for each message."""
        self.metrics.on_received()
        self.idle.clear()
        self.queue.put(item)
        if self.queue.qsize() >= self.max_queued:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        """Back-pressure: hold the network thread while the writer is a batch or two behind.

        The broker keeps what we have not read (TCP flow control), so memory stays bounded
        after an outage, and a waiting network thread does not fight the writer for the GIL
        (SQLite releases it on every row step; each hand-back costs a thread switch). The wait
        is bounded so paho still sends its keepalive pings while the database is down."""
        self._room.clear()
        if self.queue.qsize() >= self.max_queued:
            self._room.wait(1.0)

    def _take(self) -> list[Received]:
        return take_batch(self.queue, self.batch_max, self.batch_wait_s, self._room, self.idle)


class Pipeline(ReceiveQueue):
    """Batches received messages into ledger transactions and acknowledges them after commit."""

    def __init__(
        self,
        *,
        engines: Engines,
        writer: LedgerWriter,
        limits: Limits,
        topic_root: str,
        metrics: IngestMetrics,
        acker: Acker,
        batch_max: int = 2000,
        batch_wait_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        on_stored: StoredHook | None = None,
        max_queued: int | None = None,
    ) -> None:
        super().__init__(metrics, acker, clock, batch_max, batch_wait_s, max_queued)
        self.on_stored = on_stored
        self.engines = engines
        self.writer = writer
        self.limits = limits
        self.topic_root = topic_root
        self._thread: threading.Thread | None = None

    # --- the writer thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jishi-ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = Backoff(LEDGER_RETRY_MIN_S, LEDGER_RETRY_MAX_S)
        pending: list[Received] = []
        while True:
            if not pending:
                if self._stop.is_set():
                    return
                pending = self._take()
                if not pending:
                    continue
            try:
                self.process(pending)
            except LedgerUnavailable as exc:
                # The database's failure (unreachable, a table missing, permission, disk
                # full): keep the batch (unacked), retry after a pause.
                self.metrics.on_store_error(str(exc))
                delay = backoff.next_delay()
                log.warning("ledger write failed, retrying in %.1f s: %s", delay, exc)
                if self._stop.wait(delay):
                    return
                continue
            backoff.reset()
            self.acker(pending)
            pending = []

    def process(self, batch: Sequence[Received]) -> BatchOutcome:
        """Classify and store one batch (one transaction); does not acknowledge.

        Raises :class:`LedgerUnavailable` when the database, not a message, is at fault
        (ledger/failures.py): nothing of the batch may be acknowledged then."""
        items = [self._classify(r) for r in batch]
        try:
            outcome = self._write(items)
        except SQLAlchemyError as exc:
            # A value the database refuses: find the message(s) one by one and dead-letter them.
            log.warning("batch refused by the database (%s); storing one by one", exc)
            outcome = self._one_by_one(batch, items)
        now = self.clock()
        lag = now - min(r.received_at for r in batch)
        self.metrics.on_batch(outcome.stored, outcome.duplicates, Counter(outcome.dead), lag, now)
        if self.on_stored is not None and outcome.fresh:
            try:
                self.on_stored(outcome)
            except Exception:  # a mirror bug must never stop ingest or the acks
                log.exception("sink hook failed; the ledger is unaffected")
        return outcome

    def _one_by_one(
        self, batch: Sequence[Received], items: Sequence[Incoming | DeadLetter]
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        for received, item in zip(batch, items, strict=True):
            try:
                single = self._write([item])
            except SQLAlchemyError as single_exc:
                single = self._write(
                    [
                        DeadLetter(
                            received.received_at,
                            received.topic,
                            Reason.STORE_ERROR,
                            str(single_exc)[:500],
                            received.payload,
                        )
                    ]
                )
            outcome.stored += single.stored
            outcome.duplicates += single.duplicates
            outcome.dead.update(single.dead)
            outcome.fresh += single.fresh
            outcome.rows.update(single.rows)
            outcome.rewrites += single.rewrites
        return outcome

    def _write(self, items: Sequence[Incoming | DeadLetter]) -> BatchOutcome:
        """One transaction; a failure of the database's own is raised as LedgerUnavailable,
        a refused value as the SQLAlchemyError it is."""
        try:
            with self.engines.write.begin() as conn:
                return self.writer.write(conn, items, self.clock())
        except SQLAlchemyError as exc:
            if database_unavailable(exc):
                raise LedgerUnavailable(reason_of(exc)) from exc
            raise

    def _classify(self, received: Received) -> Incoming | DeadLetter:
        at = datetime.fromtimestamp(received.received_at, UTC)
        result = classify(received.topic, received.payload, at, self.limits, self.topic_root)
        if isinstance(result, Accepted):
            return Incoming(result.message, received.received_at)
        return DeadLetter(
            received.received_at,
            received.topic,
            result.reason,
            result.detail,
            received.payload,
            retained=received.retain,
        )


def take_batch(
    source: queue.SimpleQueue[Received],
    batch_max: int,
    batch_wait_s: float,
    room: threading.Event,
    idle: threading.Event,
) -> list[Received]:
    """Up to ``batch_max`` queued messages: what is there now, plus what arrives within
    ``batch_wait_s``. Sets ``room`` (the MQTT thread may go on) and ``idle`` when empty."""
    try:
        first = source.get(timeout=0.2)
    except queue.Empty:
        idle.set()
        return []
    batch = [first]
    deadline = time.monotonic() + batch_wait_s
    while len(batch) < batch_max:
        try:
            batch.append(source.get_nowait())
        except queue.Empty:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            room.set()
            time.sleep(min(remaining, 0.005))
    room.set()
    return batch
