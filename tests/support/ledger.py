"""A collector's write path in a test: config, pipeline and feeding it messages."""

from __future__ import annotations

from pathlib import Path

from jishi.collector.config import CollectorConfig
from jishi.collector.ingest.intake import Limits
from jishi.collector.ingest.metrics import IngestMetrics
from jishi.collector.ingest.pipeline import Pipeline, Received
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.writer import LedgerWriter

from support.messages import ROOT


def make_config(tmp_path: Path, **overrides: object) -> CollectorConfig:
    """A collector config in ``tmp_path`` (API on a free port); keys override the defaults."""
    data: dict[str, object] = {"data_dir": str(tmp_path / "collector"), "api": {"port": 0}}
    data.update(overrides)
    return CollectorConfig.model_validate(data)


def make_pipeline(engines: Engines, tmp_path: Path, now: float, **config: object) -> Pipeline:
    """The ingest pipeline on ``engines`` with its clock fixed at ``now``."""
    cfg = make_config(tmp_path, **config)
    return Pipeline(
        engines=engines,
        writer=LedgerWriter(cfg.registry(), cfg.site.timezone, 256, context_s=cfg.policy.context_s),
        limits=Limits(65536, 600, 400 * 86400, None),
        topic_root=ROOT,
        metrics=IngestMetrics(),
        acker=lambda _items: None,
        clock=lambda: now,
    )


def feed(pipeline: Pipeline, messages: list[tuple[str, bytes]], at: float) -> None:
    """One batch of ``(topic, payload)`` messages, all received at ``at``."""
    pipeline.process([Received(t, p, at) for t, p in messages])
