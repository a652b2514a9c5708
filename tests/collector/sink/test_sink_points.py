"""Pure parts of the sink: state codes, line protocol, point builders, backoff, config, stats."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from jishi.agent.wire import AgentHealth, InstrumentState
from jishi.backoff import Backoff
from jishi.collector.sink import STATE_CODES, DailyUsage, InstrumentMeta, SinkConfig, StateCode
from jishi.collector.sink.points import (
    Point,
    daily_usage_point,
    encode_line,
    health_point,
    reading_fields,
    state_point,
    to_ns,
)
from jishi.collector.sink.stats import SinkStats
from jishi.errors import ConfigError

T = datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
META = InstrumentMeta("s1", "nmr-1", "chem", "general")


def test_every_agent_state_has_a_code_and_unknown_is_highest() -> None:
    assert {s.value for s in InstrumentState} | {"unknown"} == set(STATE_CODES)
    assert STATE_CODES["unknown"] == max(STATE_CODES.values()) == StateCode.UNKNOWN
    assert len(set(STATE_CODES.values())) == len(STATE_CODES)
    with pytest.raises(ValueError, match="unknown instrument state"):
        state_point(META, T, "sleeping")


def test_to_ns_is_exact() -> None:
    assert to_ns(T) == 1709528767123456000
    assert to_ns(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)) == 1000
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ns(datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("tags", "fields", "line"),
    [
        ({"a": "x"}, {"f": 1.5}, "m,a=x f=1.5 7"),
        ({"a": "x y,z=w"}, {"f": 1}, r"m,a=x\ y\,z\=w f=1i 7"),
        ({"b": "2", "a": "1"}, {"s": 'say "hi"\\'}, r'm,a=1,b=2 s="say \"hi\"\\" 7'),
        ({"a": ""}, {"t": True, "u": False}, "m t=true,u=false 7"),
        ({}, {"nan": float("nan"), "ok": 2.0}, "m ok=2.0 7"),
    ],
)
def test_line_protocol(tags: dict[str, str], fields: dict[str, object], line: str) -> None:
    assert encode_line(Point("m", tags, fields, 7)) == line  # type: ignore[arg-type]  # plain dicts stand in for the typed tag and field maps


def test_a_point_without_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="no writable field"):
        encode_line(Point("m", {}, {"x": float("inf")}, 1))


def test_state_point_fields_and_tags() -> None:
    point = state_point(
        InstrumentMeta("s1", "nmr-1"),
        T,
        "unknown",
        online=False,
        last_seen=T - timedelta(seconds=75),
    )
    assert point.tags == {"site": "s1", "unit": "none", "instrument": "nmr-1", "category": "none"}
    assert point.fields["code"] == 5
    assert point.fields["state"] == "unknown"
    assert point.fields["online"] == 0
    assert point.fields["since"] == to_ns(T) // 1_000_000
    assert point.fields["last_seen"] == to_ns(T) // 1_000_000 - 75_000
    assert point.state_key == "s1/nmr-1"


def test_readings_keep_one_type_per_field() -> None:
    assert reading_fields(
        {"power_w": 12, "on": True, "mode": "acq", "gone": None, "bad": float("nan")}
    ) == {"power_w": 12.0, "on": 1.0, "mode_text": "acq"}


def test_health_from_the_wire_model() -> None:
    health = AgentHealth(
        outbox_depth=4, dropped=1, read_errors=2, last_good_read=T - timedelta(seconds=3)
    )
    point = health_point(META, T, health.model_dump(), heartbeat_interval_s=30)
    assert point is not None
    # The wire model keeps milliseconds, hence the tolerance on the age.
    assert point.fields == pytest.approx(
        {
            "outbox_depth": 4.0,
            "dropped": 1.0,
            "held_in_memory": 0.0,
            "read_errors": 2.0,
            "clock_jumps": 0.0,
            "last_good_read_age_s": 3.0,
            "heartbeat_interval_s": 30.0,
        },
        abs=1e-3,
    )


def test_daily_usage_derives_ratios_and_survives_zero_denominators() -> None:
    day = datetime(2024, 3, 3, 16, tzinfo=UTC)  # midnight Asia/Shanghai
    point = daily_usage_point(
        META,
        DailyUsage(
            day,
            day + timedelta(days=1),
            {"effective_s": 7200, "quota_s": 14400, "external_service_s": 1800, "unknown_s": 8640},
        ),
    )
    assert point.ts_ns == to_ns(day)
    assert point.fields["period_s"] == 86400.0
    assert point.fields["completeness"] == pytest.approx(0.9)
    assert point.fields["utilization"] == 0.5
    assert point.fields["share_rate"] == 0.25
    assert all(isinstance(v, float) for v in point.fields.values())
    empty = daily_usage_point(META, DailyUsage(day, day + timedelta(days=1), {}))
    assert empty.fields["utilization"] == 0.0
    assert empty.fields["share_rate"] == 0.0
    with pytest.raises(ValueError, match="after day_start"):
        daily_usage_point(META, DailyUsage(day, day, {}))


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0
    jittered = Backoff(10.0, 10.0, jitter=0.1, rng=random.Random(1))
    delays = [jittered.next_delay() for _ in range(50)]
    assert all(9.0 <= d <= 10.0 for d in delays)
    assert len(set(delays)) > 1


def test_config_checks_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="needs org and bucket"):
        SinkConfig(api="v2", url="http://127.0.0.1:8086")
    with pytest.raises(ValidationError, match="url must be"):
        SinkConfig(url="127.0.0.1:8086")
    with pytest.raises(ValidationError, match="retry_max_s"):
        SinkConfig(retry_min_s=10, retry_max_s=1)
    with pytest.raises(ValidationError, match="Extra inputs"):
        SinkConfig.model_validate({"urll": "http://x"})
    token = tmp_path / "token"
    token.write_text("s3cret\nignored\n")
    config = SinkConfig(api="v2", org="o", bucket="b", token_file=token)
    assert config.token() == "s3cret"
    assert config.spool_file(tmp_path) == tmp_path / "influx-spool.sqlite"
    monkeypatch.setenv("JISHI_TEST_INFLUX_PW", "pw")
    assert SinkConfig(password_env="JISHI_TEST_INFLUX_PW").password() == "pw"
    with pytest.raises(
        ConfigError, match=r"influx\.password_env: variable JISHI_TEST_NOT_SET_ANYWHERE is not set"
    ):
        SinkConfig(password_env="JISHI_TEST_NOT_SET_ANYWHERE").password()


def test_metrics_text_is_prometheus_exposition() -> None:
    stats = SinkStats(backend="influxdb-v1", url="http://x")
    stats.record_written(10, 0.0)
    stats.record_write_error("HTTP 503: down", 1.0)
    text = stats.metrics_text(spool_depth=3)
    assert (
        "# TYPE jishi_sink_points_written_total counter\njishi_sink_points_written_total 10\n"
        in text
    )
    assert "jishi_sink_spool_depth 3\n" in text
    assert "jishi_sink_up 0\n" in text
    status = stats.status(spool_depth=3, buffered=0, oldest_unsent_s=None)
    assert status["state"] == "retrying"
    assert status["last_error"] == "HTTP 503: down"
