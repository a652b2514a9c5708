"""The sink's counters and status, rendered for ``/api/v1/health`` and ``/metrics`` (pure)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# name -> (Prometheus type, help); the order is the order of the exposition.
METRICS: dict[str, tuple[str, str]] = {
    "jishi_sink_points_enqueued_total": ("counter", "Points handed to the InfluxDB sink."),
    "jishi_sink_points_written_total": ("counter", "Points InfluxDB accepted."),
    "jishi_sink_points_rejected_total": (
        "counter",
        "Points InfluxDB refused as invalid (HTTP 400).",
    ),
    "jishi_sink_points_dropped_total": ("counter", "Points dropped because the spool was full."),
    "jishi_sink_batches_written_total": ("counter", "Batches InfluxDB accepted."),
    "jishi_sink_write_errors_total": ("counter", "Failed write attempts (retried with backoff)."),
    "jishi_sink_spool_errors_total": ("counter", "Failed writes to the local spool file."),
    "jishi_sink_spool_depth": ("gauge", "Points waiting in the spool."),
    "jishi_sink_up": ("gauge", "1 if the last write to InfluxDB succeeded (or none was needed)."),
}


def _iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class SinkStats:
    """Mutable counters; each field is written by one thread only (ints are atomic in CPython)."""

    backend: str
    url: str
    points_enqueued: int = 0
    points_written: int = 0
    points_rejected: int = 0
    points_dropped: int = 0
    batches_written: int = 0
    write_errors: int = 0
    spool_errors: int = 0
    last_write_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_spool_error: str | None = None
    failing: bool = False
    next_retry_at: float | None = None  # monotonic
    stopped: bool = False

    def record_written(self, count: int, now_s: float) -> None:
        self.points_written += count
        self.batches_written += 1
        self.last_write_at = now_s
        self.failing = False

    def record_write_error(self, error: str, now_s: float) -> None:
        self.write_errors += 1
        self.last_error = error
        self.last_error_at = now_s
        self.failing = True

    def record_spool_error(self, error: str) -> None:
        self.spool_errors += 1
        self.last_spool_error = error

    def state(self) -> str:
        if self.stopped:
            return "stopped"
        if self.failing:
            return "retrying"
        return "ok"

    def status(
        self, *, spool_depth: int, buffered: int, oldest_unsent_s: float | None
    ) -> dict[str, Any]:
        retry_in = None
        if self.next_retry_at is not None:
            retry_in = round(max(0.0, self.next_retry_at - time.monotonic()), 3)
        return {
            "backend": self.backend,
            "url": self.url,
            "state": self.state(),
            "healthy": not self.failing and not self.stopped,
            "spool_depth": spool_depth,
            "buffered": buffered,
            "oldest_unsent_s": None if oldest_unsent_s is None else round(oldest_unsent_s, 3),
            "points_enqueued": self.points_enqueued,
            "points_written": self.points_written,
            "points_rejected": self.points_rejected,
            "points_dropped": self.points_dropped,
            "write_errors": self.write_errors,
            "last_write_at": _iso(self.last_write_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "last_spool_error": self.last_spool_error,
            "next_retry_in_s": retry_in,
        }

    def counters(self, *, spool_depth: int) -> dict[str, float]:
        return {
            "jishi_sink_points_enqueued_total": float(self.points_enqueued),
            "jishi_sink_points_written_total": float(self.points_written),
            "jishi_sink_points_rejected_total": float(self.points_rejected),
            "jishi_sink_points_dropped_total": float(self.points_dropped),
            "jishi_sink_batches_written_total": float(self.batches_written),
            "jishi_sink_write_errors_total": float(self.write_errors),
            "jishi_sink_spool_errors_total": float(self.spool_errors),
            "jishi_sink_spool_depth": float(spool_depth),
            "jishi_sink_up": 0.0 if self.failing else 1.0,
        }

    def metrics_text(self, *, spool_depth: int) -> str:
        values = self.counters(spool_depth=spool_depth)
        lines: list[str] = []
        for name, (kind, help_text) in METRICS.items():
            lines += [
                f"# HELP {name} {help_text}",
                f"# TYPE {name} {kind}",
                f"{name} {values[name]:g}",
            ]
        return "\n".join(lines) + "\n"
