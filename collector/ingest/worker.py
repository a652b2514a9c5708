"""Ingest on two cores: validation and ledger writes in a worker process, MQTT in the parent.

The paho network thread and the ledger writer cannot share one GIL at full rate, so the parent
only receives and acknowledges; a worker process owns validation, dedupe, dead letters and the
ledger transaction. The worker is a fresh interpreter (``python -m``; the parent has running
threads, so it is never forked) talking over two pipes with ``multiprocessing`` connections;
unlike multiprocessing's ``spawn`` it does not re-import the parent's main module, so scripts
without a ``__main__`` guard can start a collector. The
parent sends batches of raw ``(topic, payload, received_at, retain)`` tuples tagged with a batch
number; the worker answers each committed batch with its counters, and only then does the parent
acknowledge the batch's MQTT messages (the guarantee of :mod:`jishi.collector.ingest.pipeline`).

The worker dies with its parent: its pipe reaches end-of-file and a watchdog checks the parent
id, so a SIGKILLed collector leaves no process holding the ledger.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection

from jishi.backoff import Backoff
from jishi.collector.config import InstrumentEntry
from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import (
    LEDGER_RETRY_MAX_S,
    LEDGER_RETRY_MIN_S,
    Acker,
    Pipeline,
    Received,
    ReceiveQueue,
)
from jishi.collector.ledger.failures import LedgerUnavailable
from jishi.collector.ledger.instruments import NewInstrumentLimit
from jishi.gctune import tune_for_throughput

log = logging.getLogger(__name__)

# Batches sent and not yet answered: one being written, one waiting, so the worker never idles.
_IN_FLIGHT = 2


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything the worker needs to build its own pipeline (picklable)."""

    database_url: str
    registry: Mapping[str, InstrumentEntry]
    timezone: str
    dead_letter_max_bytes: int
    limits: Limits
    topic_root: str
    log_level: int
    new_instruments: NewInstrumentLimit | None = None
    context_s: float = 600.0  # how far the usage rules reach (late data marks days that far)


# --- the worker process ---------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    """The pipe's end-of-file is noticed only between batches; this ends a worker whose
    parent was killed while a write or a retry pause is under way."""
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


def _worker_main(inbox: Connection, outbox: Connection, parent: int) -> None:
    from jishi.collector.ledger.db import open_engines
    from jishi.collector.ledger.writer import LedgerWriter

    # `systemctl stop` signals every process of the service; the worker must not die first
    # (the parent would take that for a crash and exit with status 1). It ends when the
    # parent says so, or when the parent is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        settings: WorkerSettings = inbox.recv()
    except EOFError:
        return
    logging.basicConfig(level=settings.log_level)
    tune_for_throughput()  # a fresh interpreter: nothing of a previous run to freeze
    engines = open_engines(settings.database_url)
    pipeline = Pipeline(
        engines=engines,
        writer=LedgerWriter(
            settings.registry,
            settings.timezone,
            settings.dead_letter_max_bytes,
            topic_root=settings.topic_root,
            new_instruments=settings.new_instruments,
            context_s=settings.context_s,
        ),
        limits=settings.limits,
        topic_root=settings.topic_root,
        metrics=IngestMetrics(),
        acker=lambda _items: None,
    )
    try:
        while True:
            try:
                message = inbox.recv()
            except EOFError:
                return  # the parent is gone
            if message is None:
                return  # orderly stop; everything sent before was answered
            number, rows = message
            batch = [
                Received(topic, payload, at, retain=retain) for topic, payload, at, retain in rows
            ]
            backoff = Backoff(LEDGER_RETRY_MIN_S, LEDGER_RETRY_MAX_S)
            while True:
                try:
                    outcome = pipeline.process(batch)
                    break
                except LedgerUnavailable as exc:
                    # The database's failure (unreachable, a table missing, permission, disk
                    # full): keep the batch (unacked), retry after a pause.
                    outbox.send(("error", str(exc)))
                    time.sleep(backoff.next_delay())
            outbox.send(("done", number, outcome.stored, outcome.duplicates, dict(outcome.dead)))
    finally:
        engines.dispose()


# --- the parent side ------------------------------------------------------------------------


class ProcessPipeline(ReceiveQueue):
    """The :class:`Pipeline` interface (``submit``, ``start``, ``stop``, ``queue``) with the
    work done in a worker process."""

    def __init__(
        self,
        *,
        settings: WorkerSettings,
        metrics: IngestMetrics,
        acker: Acker,
        batch_max: int = 2000,
        batch_wait_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        max_queued: int | None = None,
    ) -> None:
        super().__init__(metrics, acker, clock, batch_max, batch_wait_s, max_queued)
        self.settings = settings
        self._slots = threading.Semaphore(_IN_FLIGHT)
        self._sent: dict[int, list[Received]] = {}
        self._sent_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._to_worker: Connection | None = None
        self._from_worker: Connection | None = None
        # Set when the worker ends on its own: health turns "degraded" and the owner may stop
        # the collector (the broker keeps every unacknowledged message for the next start).
        self.failed = threading.Event()
        self.on_failure: Callable[[], None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        inbox, to_worker = os.pipe()
        from_worker, outbox = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(inbox), str(outbox), str(os.getpid())],
            pass_fds=(inbox, outbox),
            # Its own session: Ctrl-C in a terminal reaches only the parent, which stops the
            # worker in order (even while the worker is still importing).
            start_new_session=True,
        )
        # Our copies of the worker's ends: closed, so end-of-file reaches the right side.
        os.close(inbox)
        os.close(outbox)
        self._to_worker = Connection(to_worker, readable=False)
        self._from_worker = Connection(from_worker, writable=False)
        self._to_worker.send(self.settings)
        for target, name in ((self._send_loop, "sender"), (self._receive_loop, "receiver")):
            thread = threading.Thread(target=target, name=f"jishi-ingest-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        if self._process is not None:
            try:
                self._process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                # Stuck retrying a dead database: its batches stay unacked, the broker keeps them.
                self._process.kill()
                self._process.wait(5)
        for conn in (self._to_worker, self._from_worker):
            if conn is not None:
                conn.close()

    # --- the sender thread ----------------------------------------------------------------

    def _send_loop(self) -> None:
        assert self._to_worker is not None
        numbers = itertools.count()
        try:
            while not self._stop.is_set():
                if not self._slots.acquire(timeout=0.2):
                    continue
                batch = self._take()
                if not batch:
                    self._slots.release()
                    continue
                number = next(numbers)
                with self._sent_lock:
                    self._sent[number] = batch
                rows = [(r.topic, r.payload, r.received_at, r.retain) for r in batch]
                self._to_worker.send((number, rows))
            self._to_worker.send(None)
        except (OSError, ValueError) as exc:  # the worker died; its batches stay unacked
            log.warning("ingest worker unreachable: %s", exc)

    # --- the receiver thread --------------------------------------------------------------

    def _receive_loop(self) -> None:
        assert self._from_worker is not None
        while True:
            try:
                reply = self._from_worker.recv()
            except (EOFError, OSError):
                reply = None
            if reply is None:
                if not self._stop.is_set():
                    log.error("the ingest worker ended unexpectedly; ingest has stopped")
                    self.failed.set()
                    if self.on_failure is not None:
                        self.on_failure()
                return
            if reply[0] == "error":
                self.metrics.on_store_error(reply[1])
                log.warning("ledger write failed, the worker retries: %s", reply[1])
                continue
            _, number, stored, duplicates, dead = reply
            with self._sent_lock:
                batch = self._sent.pop(number)
            self._slots.release()
            now = self.clock()
            lag = now - min(r.received_at for r in batch)
            self.metrics.on_batch(stored, duplicates, Counter(dead), lag, now)
            self.acker(batch)


if __name__ == "__main__":
    _worker_main(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        int(sys.argv[3]),
    )
