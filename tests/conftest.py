"""Fixtures shared by every test tier: private Mosquitto, throwaway PostgreSQL, data dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jishi.collector.ledger.db import Engines, migrate, open_engines
from jishi.i18n import ENGLISH, choose_language

from support.servers import Mosquitto, postgres_database

# Tests read the commands' English messages; on a machine whose locale is Chinese the commands
# (in-process and as child processes) would answer in Chinese (issue 19). The tests of the
# Chinese messages choose their language themselves (tests/test_i18n.py).
if choose_language(os.environ) != ENGLISH:
    os.environ["LC_ALL"] = "C.UTF-8"

# Fixtures that start or reach a real server or child process. A test that uses one must be
# marked ``integration`` so that ``-m "not integration"`` never needs one (checked below).
SERVER_FIXTURES = frozenset(
    {
        "mosquitto",
        "mosquitto_session",
        "pg_url",
        "pty_pair",
        "tcp_sim",
        "influx",
        "victoria",
        "loaded_influx",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use a real server but are not marked integration: " + ", ".join(unmarked)
        )
    select_alone(config, items)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--alone",
        choices=("run", "skip", "only"),
        default="run",
        help="tests marked 'alone' measure CPU time and need the CPUs to themselves: 'skip' them "
        "in a parallel run (pytest -n), then run 'only' them (scripts/test.sh does both)",
    )


def select_alone(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--alone skip`` deselects the tests marked ``alone``, ``--alone only`` all others."""
    mode = config.getoption("--alone")
    if mode == "run":
        return
    wanted = mode == "only"
    kept, dropped = [], []
    for item in items:
        alone = item.get_closest_marker("alone") is not None
        (kept if alone == wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One Mosquitto for the whole session, for tests that only need a working broker."""
    broker = Mosquitto(workdir=tmp_path_factory.mktemp("mosquitto-session"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto for one test, free to stop and restart (outage tests)."""
    broker = Mosquitto(workdir=tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL, dropped afterwards."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory moved to an empty ``tmp_path / "elsewhere"``: not the folder of
    the config files a test writes (relative paths must not depend on it, issue 14)."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the SQLite default and on the local PostgreSQL (collector and attack
    tests)."""
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
