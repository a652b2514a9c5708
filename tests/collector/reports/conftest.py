"""Fixtures for report tests: the generated year in a SQLite ledger, and the collector API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from collector.reports import scenario as sc
from jishi.collector.config import CollectorConfig
from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.collector.service import start_collector

ADMIN = "admin-secret"


@contextmanager
def make_client(config: CollectorConfig) -> Iterator[httpx.Client]:
    """The real collector API (no ingest) on a free port, with the clock at ``sc.NOW``."""
    collector = start_collector(config, admin_token=ADMIN, ingest=False, clock=lambda: sc.NOW)
    try:
        with httpx.Client(
            base_url=str(collector.api_url),
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=60,
        ) as client:
            yield client
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def year_ledger(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CollectorConfig, Engines]]:
    """The generated year on SQLite, loaded once per module (tests here only read it)."""
    tmp: Path = tmp_path_factory.mktemp("year")
    config = sc.config_for(tmp, f"sqlite:///{tmp / 'ledger.sqlite3'}")
    engines = open_engines(config.database_url)
    migrate(engines)
    sc.load(engines, config)
    yield config, engines
    engines.dispose()


@pytest.fixture(scope="module")
def api(year_ledger: tuple[CollectorConfig, Engines]) -> Iterator[httpx.Client]:
    with make_client(year_ledger[0]) as client:
        yield client
