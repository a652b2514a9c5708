"""The sink against a real InfluxDB 1.6 (v1 ``/write``): what lands, batching, rejected points,
late-data rewrites, heartbeat re-assertion, the spool across restarts, status while down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jishi.collector.sink import (
    DailyUsage,
    InfluxSink,
    InstrumentMeta,
    Point,
    StateInterval,
)

from support.influx import TEST_DB as DB
from support.influx import InfluxDB1, v1_sink_config

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 8, tzinfo=UTC)
META = InstrumentMeta("s1", "nmr-1", "chem", "general")


def make_sink(influx: InfluxDB1, data_dir: Path, **overrides: Any) -> InfluxSink:
    settings: dict[str, Any] = {
        "flush_interval_s": 0.05,
        "spool_interval_s": 0.02,
        "retry_min_s": 0.1,
        "retry_max_s": 0.5,
        "self_report_interval_s": 0,
    }
    settings.update(overrides)
    return InfluxSink.from_config(v1_sink_config(influx, **settings), data_dir).start()


def values(influx: InfluxDB1, query: str) -> list[list[Any]]:
    series = influx.query(query, db=DB)["results"][0].get("series", [])
    return [row for s in series for row in s["values"]]


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def ms(m: float) -> int:
    return int(minutes(m).timestamp() * 1000)


def test_every_kind_of_point_lands_with_its_tags_and_types(
    influx: InfluxDB1, tmp_path: Path
) -> None:
    sink = make_sink(influx, tmp_path)
    sink.write_state(META, minutes(0), "running", since=minutes(0), reason="power 1200 W")
    sink.write_readings(META, minutes(0), {"power_w": 1200, "mode": "acquire"})
    sink.write_health(META, minutes(0), {"outbox_depth": 2, "dropped": 0, "read_errors": 1})
    sink.write_daily_usage(
        META, DailyUsage(minutes(-480), minutes(960), {"effective_s": 3600, "quota_s": 14400})
    )
    assert sink.flush(10)
    assert values(
        influx, 'SELECT "code", "state", "online", "since", "reason" FROM "jishi_state"'
    ) == [[ms(0), 2, "running", 1, ms(0), "power 1200 W"]]
    assert values(
        influx, 'SELECT "code", "site", "unit", "instrument", "category" FROM "jishi_state"'
    ) == [[ms(0), 2, "s1", "chem", "nmr-1", "general"]]
    assert values(influx, 'SELECT "power_w", "mode_text" FROM "jishi_reading"') == [
        [ms(0), 1200, "acquire"]
    ]
    assert values(influx, 'SELECT "outbox_depth", "read_errors" FROM "jishi_agent_health"') == [
        [ms(0), 2, 1]
    ]
    assert values(influx, 'SELECT "utilization", "completeness" FROM "jishi_usage_daily"') == [
        [ms(-480), 0.25, 1]
    ]
    keys = values(influx, 'SHOW FIELD KEYS FROM "jishi_state"')
    assert dict(keys) == {
        "code": "integer",
        "last_seen": "integer",
        "online": "integer",
        "reason": "string",
        "since": "integer",
        "state": "string",
    }
    status = sink.status()
    assert status["state"] == "ok"
    assert status["points_written"] == 4
    assert status["spool_depth"] == 0
    assert sink.counters()["jishi_sink_points_written_total"] == 4
    sink.close()


def test_batches_are_bounded_and_everything_arrives(influx: InfluxDB1, tmp_path: Path) -> None:
    sink = make_sink(influx, tmp_path, batch_size=7)
    for i in range(100):
        sink.write_readings(META, minutes(i), {"seq": i})
    assert sink.flush(20)
    assert [row[1] for row in values(influx, 'SELECT "seq" FROM "jishi_reading"')] == list(
        range(100)
    )
    assert sink.stats.batches_written >= 15
    sink.close()


def test_a_rejected_point_is_isolated_and_the_rest_written(
    influx: InfluxDB1, tmp_path: Path
) -> None:
    sink = make_sink(influx, tmp_path, batch_size=50)
    sink.write_readings(META, minutes(0), {"seq": 0})
    assert sink.flush(10)
    points: list[Point] = []
    for i in range(1, 40):
        points.append(Point("jishi_reading", META.tags(), {"seq": float(i)}, ms(i) * 1_000_000))
        if i == 17:  # a string where InfluxDB already holds floats: field type conflict (400)
            points.append(Point("jishi_reading", META.tags(), {"seq": "bad"}, ms(i + 0.5) * 10**6))
    sink.write(points)
    assert sink.flush(20)
    assert [row[1] for row in values(influx, 'SELECT "seq" FROM "jishi_reading"')] == list(
        range(40)
    )
    assert sink.stats.points_rejected == 1
    assert sink.status()["state"] == "ok"
    sink.close()


def test_late_data_rewrites_unknown_state_points(influx: InfluxDB1, tmp_path: Path) -> None:
    sink = make_sink(influx, tmp_path, state_refresh_s=300)
    sink.write_state(META, minutes(0), "running")
    for m in range(10):  # heartbeats every minute; re-assertion at 5 min
        sink.write_heartbeat(META, minutes(m), state="running", since=minutes(0))
    sink.write_state(META, minutes(11.25), "unknown", last_seen=minutes(9))  # stale
    sink.write_state(META, minutes(20), "running")
    assert sink.flush(10)
    codes = values(influx, 'SELECT "code" FROM "jishi_state"')
    assert codes == [[ms(0), 2], [ms(5), 2], [ms(11.25), 5], [ms(20), 2]]

    # The agent's outbox replays 10..20: it was idle from 12 to 16, running otherwise.
    sink.rewrite_states(
        META,
        minutes(10),
        minutes(20),
        [
            StateInterval(minutes(0), minutes(12), "running"),
            StateInterval(minutes(12), minutes(16), "idle"),
            StateInterval(minutes(16), minutes(20), "running"),
        ],
    )
    assert sink.flush(10)
    codes = values(influx, 'SELECT "code" FROM "jishi_state"')
    assert codes == [
        [ms(0), 2],
        [ms(5), 2],
        [ms(10), 2],
        [ms(11.25), 2],  # the stale-time unknown point, overwritten
        [ms(12), 1],
        [ms(16), 2],
        [ms(20), 2],
    ]
    assert 5 not in [code for _, code in codes]
    sink.close()


def test_heartbeats_reassert_state_at_most_every_refresh(influx: InfluxDB1, tmp_path: Path) -> None:
    sink = make_sink(influx, tmp_path, state_refresh_s=300)
    sink.write_state(META, minutes(0), "idle")
    for second in range(0, 20 * 60, 30):
        sink.write_heartbeat(
            META, T0 + timedelta(seconds=second), state="idle", readings={"power_w": 80}
        )
    assert sink.flush(10)
    times = [row[0] for row in values(influx, 'SELECT "code" FROM "jishi_state"')]
    assert times == [ms(0), ms(5), ms(10), ms(15)]
    assert len(values(influx, 'SELECT "power_w" FROM "jishi_reading"')) == 40
    sink.close()


def test_points_wait_in_the_spool_across_a_restart(influx: InfluxDB1, tmp_path: Path) -> None:
    influx.stop()
    sink = make_sink(influx, tmp_path, timeout_s=1)
    for i in range(25):
        sink.write_readings(META, minutes(i), {"seq": i})
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while sink.status()["write_errors"] == 0:
        assert datetime.now(UTC) < deadline
        sink.flush(0.1)
    status = sink.status()
    assert status["state"] == "retrying"
    assert not status["healthy"]
    assert status["spool_depth"] + status["buffered"] == 25
    assert status["last_error"]
    assert sink.counters()["jishi_sink_up"] == 0
    sink.close(timeout_s=0.5)  # the collector stops while InfluxDB is still down

    influx.start()
    again = make_sink(influx, tmp_path)
    assert again.flush(20)
    assert [row[1] for row in values(influx, 'SELECT "seq" FROM "jishi_reading"')] == list(
        range(25)
    )
    assert again.status()["state"] == "ok"
    again.close()


def test_a_missing_database_holds_points_until_it_exists(influx: InfluxDB1, tmp_path: Path) -> None:
    sink = make_sink(influx, tmp_path, database="later")
    sink.write_readings(META, minutes(0), {"seq": 1})
    assert not sink.flush(1.0)
    assert "database not found" in str(sink.status()["last_error"])
    influx.create_database("later")
    assert sink.flush(10)
    rows = influx.query('SELECT "seq" FROM "jishi_reading"', db="later")["results"][0]["series"]
    assert rows[0]["values"] == [[ms(0), 1]]
    sink.close()
