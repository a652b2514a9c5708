"""Fixtures for collector tests: a ledger on SQLite or PostgreSQL, an API client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jishi.collector.ledger.db import Engines, migrate, open_engines


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the SQLite default and on the local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engines(ledger_url: str) -> Iterator[Engines]:
    engines = open_engines(ledger_url)
    migrate(engines)
    yield engines
    engines.dispose()
