"""InfluxDB taken away during ingest and brought back: no point is missing and the batches went
out in the order they were produced."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jishi.collector.sink import InfluxSink, InstrumentMeta
from jishi.collector.sink.spool import Spool
from jishi.collector.sink.writers import V1Writer

from support.influx import TEST_DB as DB
from support.influx import InfluxDB1, v1_sink_config

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 8, tzinfo=UTC)
METAS = [InstrumentMeta("s1", f"inst-{i}", "chem", "general") for i in range(5)]


class RecordingWriter:
    """The real v1 writer, noting the sequence numbers of every batch InfluxDB accepted."""

    name = "influxdb-v1"

    def __init__(self, inner: V1Writer) -> None:
        self.inner = inner
        self.accepted: list[int] = []

    def write(self, lines: Sequence[str]) -> None:
        self.inner.write(lines)
        self.accepted += [int(float(line.split("seq=")[1].split(" ")[0])) for line in lines]

    def close(self) -> None:
        self.inner.close()


def run_outage(influx: InfluxDB1, tmp_path: Path, outage_s: float, **settings: Any) -> None:
    """Ingest throughout, InfluxDB down for ``outage_s``; ``settings`` override the sink's."""
    fast = {"flush_interval_s": 0.2, "retry_min_s": 0.2, "retry_max_s": 2.0, "timeout_s": 2.0}
    config = v1_sink_config(influx, **{**fast, "self_report_interval_s": 0, **settings})
    writer = RecordingWriter(V1Writer(influx.url, DB, timeout_s=config.timeout_s))
    spool = Spool(config.spool_file(tmp_path), config.max_spool_points)
    sink = InfluxSink(config=config, writer=writer, spool=spool).start()
    produced = 0
    stop = threading.Event()

    def ingest() -> None:
        # 5 instruments, one reading each every 50 ms: the collector keeps ingesting throughout.
        nonlocal produced
        while not stop.is_set():
            for meta in METAS:
                ts = T0 + timedelta(milliseconds=produced)
                sink.write_readings(meta, ts, {"seq": produced})
                produced += 1
            time.sleep(0.05)

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(2.0)
    influx.stop()
    time.sleep(outage_s)
    during = sink.status()
    influx.start()
    time.sleep(2.0)
    stop.set()
    thread.join()
    assert sink.flush(60), sink.status()
    sink.close()

    assert during["state"] == "retrying"
    assert during["spool_depth"] > 0
    assert during["write_errors"] >= 2
    rows = influx.query('SELECT count("seq") FROM "jishi_reading"', db=DB)["results"][0]
    assert rows["series"][0]["values"][0][1] == produced
    seqs = influx.query('SELECT "seq" FROM "jishi_reading"', db=DB)["results"][0]["series"][0]
    assert sorted(int(v[1]) for v in seqs["values"]) == list(range(produced))
    # In order: each accepted batch continues where the previous one stopped.
    assert writer.accepted == list(range(produced))


def test_short_outage_loses_nothing(influx: InfluxDB1, tmp_path: Path) -> None:
    run_outage(influx, tmp_path, outage_s=3.0)


@pytest.mark.slow
def test_long_outage_at_the_longest_backoff_loses_nothing(
    influx: InfluxDB1, tmp_path: Path
) -> None:
    """Thirty retries at the longest back-off and a backlog of two batches, as a minute's outage
    with the short test's back-off (2 s) and the default batch size would give."""
    run_outage(influx, tmp_path, outage_s=15.0, retry_min_s=0.05, retry_max_s=0.5, batch_size=1000)
