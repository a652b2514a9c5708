"""The v2 write path (``influxdb-client`` -> ``/api/v2/write``) against a real VictoriaMetrics,
read back through its export API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jishi.collector.sink import DailyUsage, InfluxSink, InstrumentMeta, SinkConfig

from support.influx import VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 8, tzinfo=UTC)
META = InstrumentMeta("s1", "xrd.2", "phys", "specialised")


def test_v2_points_read_back_from_victoria_metrics(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    config = SinkConfig(
        api="v2",
        url=victoria.url,
        org="lab",
        bucket="jishi",
        flush_interval_s=0.05,
        batch_size=50,
        self_report_interval_s=0,
    )
    sink = InfluxSink.from_config(config, tmp_path).start()
    for minute in range(120):
        ts = T0 + timedelta(minutes=minute)
        sink.write_readings(META, ts, {"power_w": 100.0 + minute})
    sink.write_state(META, T0, "idle")
    sink.write_state(META, T0 + timedelta(minutes=30), "unknown", online=False)
    sink.write_health(META, T0, {"outbox_depth": 7})
    day = T0.replace(hour=0)
    sink.write_daily_usage(META, DailyUsage(day, day + timedelta(days=1), {"effective_s": 7200}))
    assert sink.flush(20), sink.status()
    assert sink.status()["backend"] == "influxdb-v2"
    assert sink.stats.batches_written >= 3  # 124 points in batches of at most 50
    sink.close()

    t0_ms = int(T0.timestamp() * 1000)
    (power,) = victoria.export('{__name__="jishi_reading_power_w"}')
    assert power["metric"] == {
        "__name__": "jishi_reading_power_w",
        "site": "s1",
        "unit": "phys",
        "instrument": "xrd.2",
        "category": "specialised",
    }
    assert power["timestamps"] == [t0_ms + 60_000 * m for m in range(120)]
    assert power["values"] == [100.0 + m for m in range(120)]

    (code,) = victoria.export('{__name__="jishi_state_code"}')
    assert code["timestamps"] == [t0_ms, t0_ms + 30 * 60_000]
    assert code["values"] == [1, 5]  # idle, then an explicit unknown
    (online,) = victoria.export('{__name__="jishi_state_online"}')
    assert online["values"] == [1, 0]
    (depth,) = victoria.export('{__name__="jishi_agent_health_outbox_depth"}')
    assert depth["values"] == [7]
    (effective,) = victoria.export('{__name__="jishi_usage_daily_effective_s"}')
    assert (effective["timestamps"], effective["values"]) == ([int(day.timestamp() * 1000)], [7200])
