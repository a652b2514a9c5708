"""Running the collector: ingest (MQTT -> ledger) and the API (uvicorn) in background threads.

``start_collector(config, ...)`` is the in-process entry point (the demo runs broker, collector
and agent in one process); ``run_from_args`` is ``jishi collector run``. Config and secrets are
read at the edge and handed in.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jishi.collector.api.app import create_app
from jishi.collector.api.auth import ApiContext
from jishi.collector.api.tokens import TokenStore
from jishi.collector.client_id import resolve_client_id
from jishi.collector.config import CollectorConfig
from jishi.collector.console.app import add_console
from jishi.collector.ingest.booking_feeds import FeedPuller
from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.mqtt_source import MqttSource
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ingest.worker import ProcessPipeline, WorkerSettings
from jishi.collector.ledger.batch import BatchOutcome
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.ledger.instruments import NewInstrumentLimit
from jishi.collector.ledger.registry import sync_registry
from jishi.collector.ledger.rollup_rules import retire_changed_rollups
from jishi.collector.ledger.writer import LedgerWriter
from jishi.errors import JishiError

if TYPE_CHECKING:
    from jishi.collector.sink import InfluxSink
    from jishi.collector.sink.config import SinkConfig
    from jishi.collector.sink.mirror import SinkMirror

log = logging.getLogger(__name__)


class ApiStartError(JishiError):
    """The API could not listen (port in use, bad host)."""


class SinkStartError(JishiError):
    """The InfluxDB sink could not start (its spool file cannot be opened)."""


@dataclass
class Collector:
    """A running collector; ``stop()`` ends every thread it started."""

    config: CollectorConfig
    engines: Engines
    metrics: IngestMetrics
    pipeline: Pipeline | ProcessPipeline | None
    source: MqttSource | None
    tokens: TokenStore
    api_port: int | None = None
    _server: object | None = None
    _api_thread: threading.Thread | None = None
    _rollup_thread: threading.Thread | None = None
    _rollup_stop: threading.Event = field(default_factory=threading.Event)
    # The InfluxDB mirror ([influx]); None when not configured.
    sink: InfluxSink | None = None
    mirror: SinkMirror | None = None
    _mirror_thread: threading.Thread | None = None
    # Calendar feeds of bookings ([[bookings]]); None when there are none.
    _feeds: FeedPuller | None = None
    _stopped: bool = field(default=False)

    @property
    def api_url(self) -> str | None:
        if self.api_port is None:
            return None
        return f"http://{self.config.api.host}:{self.api_port}"

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every message received so far is committed (tests, demo)."""
        if self.pipeline is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.metrics.received
            handled = (
                self.metrics.stored
                + self.metrics.duplicates
                + sum(self.metrics.dead_letters.values())
            )
            if handled >= received and self.pipeline.queue.empty():
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            # uvicorn.Server, held as object so uvicorn stays an import of run time only.
            self._server.should_exit = True  # type: ignore[attr-defined]  # see above
        if self.source is not None:
            self.source.stop()
        if self.pipeline is not None:
            self.pipeline.stop()
        self._rollup_stop.set()
        if self._feeds is not None:
            self._feeds.stop()
        if self._rollup_thread is not None:
            self._rollup_thread.join(10)
        if self._mirror_thread is not None:
            self._mirror_thread.join(10)
        if self.sink is not None:
            # Unsent points stay in the spool and go out after the next start.
            self.sink.close(timeout_s=5)
        if self._api_thread is not None:
            self._api_thread.join(10)
        self.engines.dispose()


def _limits(config: CollectorConfig) -> Limits:
    ingest = config.ingest
    return Limits(
        max_payload_bytes=ingest.max_payload_bytes,
        max_future_s=ingest.max_future_s,
        max_age_s=ingest.max_age_days * 86_400,
        known_instruments=frozenset(config.registry()) if ingest.registry_closed else None,
    )


def new_instrument_limit(config: CollectorConfig) -> NewInstrumentLimit | None:
    """The open registry's bound on instruments made from messages (None: closed registry,
    where unknown ids are refused anyway)."""
    ingest = config.ingest
    if ingest.registry_closed:
        return None
    return NewInstrumentLimit(
        per_hour=ingest.max_new_instruments_per_hour, total=ingest.max_unregistered_instruments
    )


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle + delayed ACK add 40 ms to every response (head and body are two writes).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another port with --api-port"
        ) from None
    sock.listen(128)
    return sock


def start_collector(
    config: CollectorConfig,
    *,
    admin_token: str | None = None,
    ingest: bool = True,
    api: bool = True,
    clock: Callable[[], float] = time.time,
    rollup_interval_s: float = 60.0,
    sink_sweep_s: float = 5.0,
    create_ledger: bool = False,
) -> Collector:
    """Migrate the ledger, then start the InfluxDB sink (if ``[influx]``), ingest and the API
    in background threads.

    ``config.api.port = 0`` picks a free port (see ``Collector.api_port``). ``sink_sweep_s`` is
    how often instruments gone stale are mirrored as ``unknown``; ``create_ledger`` replaces an
    existing SQLite file that is not a ledger (kept aside) instead of refusing it. Raises
    :class:`jishi.collector.db.DatabaseError`, :class:`ApiStartError`,
    :class:`jishi.errors.ConfigError` (sink secrets) or :class:`SinkStartError`.
    """
    engines = open_engines(config.database_url, create_ledger=create_ledger)
    migrate(engines)
    synced = sync_registry(engines, config.registry(), clock())
    if synced.added or synced.updated or synced.unregistered:
        log.info(
            "registry applied: %d instruments added, %d updated, %d no longer registered",
            synced.added,
            synced.updated,
            synced.unregistered,
        )
    retired = retire_changed_rollups(engines, config, clock())
    if retired:
        log.info(
            "usage rules changed for %d instruments: their roll-ups are recomputed in the "
            "background (queries compute those days live meanwhile)",
            len(retired),
        )
    metrics = IngestMetrics()
    tokens = TokenStore(engines, admin_token=admin_token, clock=clock)
    collector = Collector(config, engines, metrics, None, None, tokens)
    try:
        if ingest and config.influx is not None and config.influx.enabled:
            _start_sink(collector, config.influx, clock, sink_sweep_s)
        if ingest:
            _start_ingest(collector, clock)
            _start_rollups(collector, clock, rollup_interval_s)
        if ingest and config.bookings:
            collector._feeds = FeedPuller(engines, config.bookings, config.site.timezone, clock)
            collector._feeds.start()
        if api:
            _start_api(collector, clock)
    except BaseException:
        collector.stop()
        raise
    return collector


def _start_ingest(collector: Collector, clock: Callable[[], float]) -> None:
    config = collector.config
    holder: list[MqttSource] = []

    def ack(items: Sequence[Received]) -> None:
        holder[0].ack(items)

    pipeline: Pipeline | ProcessPipeline
    # The worker process uses its own wall clock and cannot call the in-memory sink mirror:
    # an injected clock (tests) or [influx] keeps the work in process.
    if config.ingest.workers and clock is time.time and collector.mirror is None:
        pipeline = ProcessPipeline(
            settings=WorkerSettings(
                database_url=config.database_url,
                registry=config.registry(),
                timezone=config.site.timezone,
                dead_letter_max_bytes=config.ingest.dead_letter_max_bytes,
                limits=_limits(config),
                topic_root=config.mqtt.topic_root,
                log_level=logging.getLogger().getEffectiveLevel(),
                new_instruments=new_instrument_limit(config),
                context_s=config.policy.context_s,
            ),
            metrics=collector.metrics,
            acker=ack,
            batch_max=config.database.batch_max,
            batch_wait_s=config.database.batch_wait_s,
        )
    else:
        pipeline = Pipeline(
            engines=collector.engines,
            writer=LedgerWriter(
                config.registry(),
                config.site.timezone,
                config.ingest.dead_letter_max_bytes,
                topic_root=config.mqtt.topic_root,
                new_instruments=new_instrument_limit(config),
                context_s=config.policy.context_s,
            ),
            limits=_limits(config),
            topic_root=config.mqtt.topic_root,
            metrics=collector.metrics,
            acker=ack,
            batch_max=config.database.batch_max,
            batch_wait_s=config.database.batch_wait_s,
            clock=clock,
            on_stored=_stored_hook(collector),
        )
    source = MqttSource(
        config=config.mqtt,
        password=config.mqtt.password(),
        client_id=resolve_client_id(config.mqtt.client_id, config.data_dir),
        on_message=pipeline.submit,
        metrics=collector.metrics,
        clock=clock,
    )
    holder.append(source)
    collector.pipeline, collector.source = pipeline, source
    pipeline.start()
    source.start()


def _stored_hook(collector: Collector) -> Callable[[BatchOutcome], None] | None:
    mirror = collector.mirror
    if mirror is None:
        return None

    def hook(outcome: BatchOutcome) -> None:
        mirror.on_batch(outcome.fresh, outcome.rows, outcome.rewrites)

    return hook


def _start_sink(
    collector: Collector, influx: SinkConfig, clock: Callable[[], float], sweep_s: float
) -> None:
    """The InfluxDB mirror: the sink's threads, and a sweep that writes ``unknown`` for
    instruments gone stale and rewrites state points that late data corrected."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from jishi.collector.ledger import queries, tables
    from jishi.collector.sink import InfluxSink
    from jishi.collector.sink.mirror import SinkMirror
    from jishi.collector.sink.spool import SpoolError
    from jishi.collector.usage.timeline import build_timeline

    try:
        sink = InfluxSink.from_config(influx, collector.config.data_dir).start()
    except SpoolError as exc:
        raise SinkStartError(f"influx spool: {exc}; check influx.spool_path / data_dir") from None
    mirror = SinkMirror(sink)
    collector.sink, collector.mirror = sink, mirror
    engines = collector.engines

    def rewrite_pending() -> None:
        pending = mirror.take_rewrites()
        try:
            while pending:
                meta, lo, hi = pending[0]
                with engines.read.connect() as conn:
                    spans = queries.coverage(conn, meta.instrument, lo, hi)
                mirror.rewrite(meta, lo, hi, build_timeline(spans, lo, hi))
                pending.pop(0)
        finally:
            mirror.requeue(pending)  # what a database error left undone: next pass

    def loop() -> None:
        primed = False
        while True:
            try:
                if not primed:
                    with engines.read.connect() as conn:
                        rows = conn.execute(select(tables.instruments)).mappings().all()
                    mirror.prime([dict(row) for row in rows])
                    primed = True
                mirror.sweep(clock())
                rewrite_pending()
            except SQLAlchemyError as exc:  # the next pass retries; ingest is unaffected
                log.warning("sink sweep failed: %s", exc)
            if collector._rollup_stop.wait(sweep_s):
                return

    thread = threading.Thread(target=loop, name="jishi-sink-mirror", daemon=True)
    collector._mirror_thread = thread
    thread.start()


@dataclass(frozen=True)
class Housekeeping:
    """What one housekeeping pass did."""

    dead_letters: int  # pruned
    analyzed: list[str] = field(default_factory=list)  # tables whose statistics were refreshed


def housekeeping(engines: Engines, config: CollectorConfig, now: float) -> Housekeeping:
    """Keep the ledger bounded: dead letters beyond ``ingest.dead_letter_max_age_days`` and
    ``ingest.dead_letter_max_total_mb`` are deleted, oldest first (issue 17); and keep
    PostgreSQL's planner statistics fresh (ledger/statistics.py, issue 18)."""
    from jishi.collector.ledger.dead_letters import prune_dead_letters
    from jishi.collector.ledger.statistics import refresh_statistics

    ingest = config.ingest
    with engines.write.begin() as conn:
        pruned = prune_dead_letters(
            conn,
            now,
            max_age_s=ingest.dead_letter_max_age_days * 86_400,
            max_total_bytes=int(ingest.dead_letter_max_total_mb * 1024 * 1024),
        )
    if pruned:
        log.info("pruned %d dead letters (age and size bounds of [ingest])", pruned)
    analyzed = refresh_statistics(engines)
    if analyzed:
        log.info("planner statistics refreshed: %s", ", ".join(analyzed))
    return Housekeeping(dead_letters=pruned, analyzed=analyzed)


def _start_rollups(collector: Collector, clock: Callable[[], float], interval_s: float) -> None:
    """Daily roll-ups are refreshed in the background (dirty and missing closed days), and the
    ledger's housekeeping runs after them."""
    from sqlalchemy.exc import SQLAlchemyError

    from jishi.collector.ledger.rollup import refresh_rollups

    mirror = collector.mirror
    on_day = None if mirror is None else mirror.on_rollup

    def loop() -> None:
        while not collector._rollup_stop.wait(interval_s):
            try:
                refresh_rollups(collector.engines, collector.config, clock(), on_day=on_day)
            except SQLAlchemyError as exc:  # the next pass retries; ingest is unaffected
                log.warning("roll-up refresh failed: %s", exc)
            try:
                housekeeping(collector.engines, collector.config, clock())
            except SQLAlchemyError as exc:  # the next pass retries; ingest is unaffected
                log.warning("ledger housekeeping failed: %s", exc)

    thread = threading.Thread(target=loop, name="jishi-rollups", daemon=True)
    collector._rollup_thread = thread
    thread.start()


def _start_api(collector: Collector, clock: Callable[[], float]) -> None:
    import uvicorn

    ctx = ApiContext(
        config=collector.config,
        engines=collector.engines,
        tokens=collector.tokens,
        metrics=collector.metrics,
        clock=clock,
        sink=collector.sink,
        feeds=collector._feeds,
    )
    pipeline = collector.pipeline
    if isinstance(pipeline, ProcessPipeline):
        ctx.checks["ingest_worker"] = lambda: not pipeline.failed.is_set()
    app = create_app(ctx)
    add_console(app)  # the web console under / (issue 16)
    sock = _bind(collector.config.api.host, collector.config.api.port)
    collector.api_port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    collector._server = server
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="jishi-api", daemon=True
    )
    collector._api_thread = thread
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise ApiStartError(f"the API did not start on port {collector.api_port}")
