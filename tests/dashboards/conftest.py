"""A real InfluxDB 1.x filled through the sink with the scenario of dashboard_scenario.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jishi.collector.sink import InfluxSink

from support.dashboard_scenario import STATE_REFRESH_S, Loaded, feed
from support.influx import TEST_DB, InfluxDB1, v1_sink_config

DB = TEST_DB


@pytest.fixture(scope="module")
def loaded_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    workdir: Path = tmp_path_factory.mktemp("influx-dashboards")
    influx = InfluxDB1(workdir=workdir / "influxd").start()
    try:
        influx.create_database(DB)
        config = v1_sink_config(
            influx,
            flush_interval_s=0.1,
            spool_interval_s=0.05,
            state_refresh_s=STATE_REFRESH_S,
            self_report_interval_s=0.2,
            collector_name="test-collector",
        )
        sink = InfluxSink.from_config(config, workdir / "collector").start()
        feed(sink)
        assert sink.flush(30), sink.status()
        # Let at least one self-report (jishi_sink) reach InfluxDB.
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not influx.query('SELECT count(*) FROM "jishi_sink"', db=DB)["results"][0].get(
            "series"
        ):
            assert datetime.now(UTC) < deadline, "the sink never reported itself"
            sink.flush(1)
        status = sink.status()
        sink.close()
        yield Loaded(influx=influx, sink_status=status)
    finally:
        influx.stop()
