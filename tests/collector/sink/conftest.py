"""Real InfluxDB 1.x and VictoriaMetrics for the sink tests, one private server per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.influx import TEST_DB, InfluxDB1, VictoriaMetrics

DB = TEST_DB


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(workdir=tmp_path / "influxd").start()
    server.create_database(DB)
    yield server
    server.stop()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(workdir=tmp_path / "victoria-metrics").start()
    yield server
    server.stop()
