"""An agent cut off from the broker: the collector shows the stretch as unknown while it is
cut off, and the agent's historical replay turns that stretch into known states afterwards
(DESIGN.md, "Freshness and unknown time": late data corrects history)."""

from __future__ import annotations

import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.agentproc import AgentProcess, sim_agent_toml
from support.collectorproc import CollectorProcess
from support.servers import Mosquitto
from support.waiting import poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def timeline(collector: CollectorProcess, start: datetime, end: datetime) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"start": start.isoformat(), "end": end.isoformat()})
    status, body = collector.get(f"/api/v1/instruments/nmr-1/timeline?{query}")
    assert status == 200, body
    return list(body["intervals"] if isinstance(body, dict) and "intervals" in body else body)


def unknown_s(intervals: list[dict[str, Any]]) -> float:
    return sum(i["duration_s"] for i in intervals if i["state"] == "unknown")


def test_replay_turns_unknown_into_known(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # The collector retries the broker every second at most, so it is back soon after it.
    collector = CollectorProcess(
        tmp_path / "collector", mosquitto.url, extra_mqtt="reconnect_max_s = 1"
    ).start()
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            mosquitto.url, instruments={"nmr-1": [("idle", 2.0), ("running", 2.0)]}, heartbeat_s=1.0
        )
    )
    agent = AgentProcess(config, tmp_path / "agent").start()
    try:
        collector.wait_for(
            "/api/v1/instruments/nmr-1", lambda r: r["state"] in {"idle", "running"}, 20
        )
        mosquitto.stop()
        cut = datetime.now(UTC)
        time.sleep(10)
        resumed = datetime.now(UTC)
        # While cut off: the stretch is unknown, never the last state carried forward.
        status, row = collector.get("/api/v1/instruments/nmr-1")
        assert status == 200
        assert row["state"] == "unknown"
        window = (cut + timedelta(seconds=3), resumed - timedelta(seconds=1))
        assert unknown_s(timeline(collector, *window)) > 5
        mosquitto.start()
        # After the replay the same stretch is known: idle and running, as the scenario says.
        poll_until(lambda: unknown_s(timeline(collector, *window)) == 0, 30, 0.5)
        intervals = timeline(collector, *window)
        assert unknown_s(intervals) == 0, intervals
        assert {i["state"] for i in intervals} == {"idle", "running"}
        collector.wait_for(
            "/api/v1/instruments/nmr-1", lambda r: r["state"] in {"idle", "running"}, 20
        )
    finally:
        agent.stop()
        collector.stop()
