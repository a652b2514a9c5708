"""The collector's own counters and their Prometheus text exposition (pure output function)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass
class IngestMetrics:
    """Updated by the ingest threads, read by ``/metrics`` and ``/health``."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    batches: int = 0
    store_errors: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    # Receive-to-commit delay of the newest batch, and the message age (commit - ts) of it.
    last_commit_lag_s: float = 0.0
    last_commit_at: float | None = None
    broker_connected: bool = False
    broker_connects: int = 0
    # Disconnections that look like another client using our client id (ingest/takeover.py).
    broker_takeovers: int = 0
    last_takeover_at: float | None = None
    database_ok: bool = True
    last_error: str | None = None
    # Messages the database refused one by one (dead-lettered as store_error), and when.
    refused_writes: int = 0
    last_refused_at: float | None = None
    # Messages about new instruments beyond the open registry's limit, and when.
    registry_limited: int = 0
    last_registry_limit_at: float | None = None
    _recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_received(self, count: int = 1) -> None:
        with self._lock:
            self.received += count

    def on_batch(
        self, stored: int, duplicates: int, dead: Counter[str], lag_s: float, at: float
    ) -> None:
        with self._lock:
            self.stored += stored
            self.duplicates += duplicates
            self.dead_letters.update(dead)
            self.batches += 1
            self.last_commit_lag_s = lag_s
            self.last_commit_at = at
            self.database_ok = True
            limited = dead.get("registry_limit", 0)
            if limited:
                self.registry_limited += limited
                self.last_registry_limit_at = at
            refused = dead.get("store_error", 0)
            if refused:
                self.refused_writes += refused
                self.last_refused_at = at
            self._recent.append((at, stored + duplicates + sum(dead.values())))

    def on_store_error(self, error: str) -> None:
        with self._lock:
            self.store_errors += 1
            self.database_ok = False
            self.last_error = error

    def on_takeover(self, at: float) -> None:
        with self._lock:
            self.broker_takeovers += 1
            self.last_takeover_at = at

    def write_problem(self, now: float, window_s: float = 600.0) -> str | None:
        """Why ledger writes are not healthy now, or None: the newest batch failed (it is being
        retried; the broker keeps its messages), or the database refused messages of a batch
        within ``window_s`` (they are dead letters, not data)."""
        with self._lock:
            if not self.database_ok:
                return (
                    f"ledger writes are failing ({self.store_errors} failed attempts; "
                    f"last: {self.last_error}); ingest retries, the broker keeps the messages"
                )
            if self.last_refused_at is not None and self.last_refused_at >= now - window_s:
                return (
                    f"the database refused {self.refused_writes} messages (dead-lettered as "
                    "store_error), the last within the past "
                    f"{window_s / 60:g} minutes"
                )
        return None

    def registry_problem(self, now: float, window_s: float = 3600.0) -> str | None:
        """A warning while the open registry's limit refuses new instruments (within
        ``window_s``): an agent misconfigured, or someone inventing ids."""
        with self._lock:
            if self.last_registry_limit_at is None or self.last_registry_limit_at < now - window_s:
                return None
            return (
                f"{self.registry_limited} messages about new instruments refused since start "
                "(registry_limit: more new instrument ids than the open registry allows); see "
                "GET /api/v1/dead-letters"
            )

    def rate(self, now: float, window_s: float = 60.0) -> float:
        """Messages processed per second over the last ``window_s``."""
        with self._lock:
            total = sum(n for at, n in self._recent if at >= now - window_s)
        return total / window_s


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(
    metrics: IngestMetrics,
    instruments_online: int,
    instruments_total: int,
    now: float | None = None,
) -> str:
    """Prometheus text format 0.0.4 of the collector's figures."""
    now = time.time() if now is None else now
    with metrics._lock:
        received, stored, duplicates = metrics.received, metrics.stored, metrics.duplicates
        dead = dict(metrics.dead_letters)
        lag, errors, batches = metrics.last_commit_lag_s, metrics.store_errors, metrics.batches
        connected = metrics.broker_connected
        takeovers = metrics.broker_takeovers
    by_reason = [(f'{{reason="{_escape(r)}"}}', float(n)) for r, n in sorted(dead.items())]
    families: list[tuple[str, str, str, list[tuple[str, float]]]] = [
        ("jishi_ingest_received_total", "counter", "MQTT messages received.", [("", received)]),
        ("jishi_ingest_stored_total", "counter", "Messages stored in the ledger.", [("", stored)]),
        (
            "jishi_ingest_duplicates_total",
            "counter",
            "Redelivered or replayed messages dropped by the (boot_id, seq) dedupe.",
            [("", duplicates)],
        ),
        (
            "jishi_ingest_dead_letters_total",
            "counter",
            "Messages refused and kept in the dead-letter table, by reason.",
            by_reason or [("", 0)],
        ),
        ("jishi_ingest_batches_total", "counter", "Ledger write transactions.", [("", batches)]),
        ("jishi_ingest_store_errors_total", "counter", "Failed ledger writes.", [("", errors)]),
        (
            "jishi_ingest_rate_msg_per_s",
            "gauge",
            "Messages processed per second over the last minute.",
            [("", metrics.rate(now))],
        ),
        (
            "jishi_ingest_lag_seconds",
            "gauge",
            "Receive-to-commit delay of the newest batch.",
            [("", lag)],
        ),
        ("jishi_broker_connected", "gauge", "1 if connected to the broker.", [("", connected)]),
        (
            "jishi_broker_takeovers_total",
            "counter",
            "Disconnections that look like another client using the collector's client id.",
            [("", takeovers)],
        ),
        (
            "jishi_instruments_online",
            "gauge",
            "Instruments whose agent is online with fresh data.",
            [("", instruments_online)],
        ),
        ("jishi_instruments", "gauge", "Instruments in the ledger.", [("", instruments_total)]),
    ]
    return "".join(_family(*family) for family in families)


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)
    return "\n".join(lines) + "\n"
