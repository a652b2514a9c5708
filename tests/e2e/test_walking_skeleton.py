"""End to end through real processes: simulated instruments -> agent -> Mosquitto -> collector
-> API. Each instrument shows the state its scenario dictates within two heartbeats, and
``online: false`` (state unknown) once the agent is killed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jishi.drivers.simulated import Scenario, Step

from support.agentproc import AgentProcess, sim_agent_toml
from support.collectorproc import CollectorProcess
from support.servers import Mosquitto

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HEARTBEAT_S = 2.0
# Long steps: no scenario boundary falls inside the few seconds the test looks.
SCENARIOS = {
    "nmr-1": [("running", 3600.0)],
    "sem-1": [("idle", 3600.0)],
    "seq-1": [("fault", 3600.0)],
    "xrd-1": [("maintenance", 3600.0)],
    "tem-1": [("off", 3600.0)],
}


def expected_states(now: datetime) -> dict[str, str]:
    return {
        name: Scenario(steps=tuple(Step(s, d) for s, d in steps)).state_at(now)[0]
        for name, steps in SCENARIOS.items()
    }


@pytest.mark.parametrize("ledger", ["sqlite", "postgresql"])
def test_agent_to_api(
    tmp_path: Path, mosquitto: Mosquitto, ledger: str, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("pg_url") if ledger == "postgresql" else None
    collector = CollectorProcess(tmp_path / "collector", mosquitto.url, db=db).start()
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            mosquitto.url,
            instruments=SCENARIOS,
            heartbeat_s=HEARTBEAT_S,
            extra_mqtt="keepalive_s = 5",
        )
    )
    agent = AgentProcess(config, tmp_path / "agent").start()
    try:
        started = time.monotonic()
        # Process start (Python imports) plus two heartbeats.
        body = collector.wait_for(
            "/api/v1/instruments",
            lambda rows: {r["id"]: r["state"] for r in rows} == expected_states(datetime.now(UTC)),
            timeout=5 + 2 * HEARTBEAT_S,
        )
        assert time.monotonic() - started <= 5 + 2 * HEARTBEAT_S
        assert all(row["online"] for row in body)
        assert {row["site"] for row in body} == {"lab"}
        status, detail = collector.get("/api/v1/instruments/nmr-1")
        assert status == 200
        assert detail["state"] == "running"
        assert collector.get("/api/v1/instruments/nope")[0] == 404
        assert collector.get("/api/v1/instruments", token=None)[0] == 401
        assert collector.get("/api/v1/instruments", token="wrong")[0] == 401
        health = collector.get("/api/v1/health", token=None)
        assert health[0] == 200

        agent.kill()  # no clean goodbye: the broker publishes each instrument's Last Will
        body = collector.wait_for(
            "/api/v1/instruments",
            lambda rows: all(not r["online"] and r["state"] == "unknown" for r in rows),
            timeout=20,  # keepalive 5 s: the broker notices within 1.5 x keepalive
        )
        assert len(body) == len(SCENARIOS)
    finally:
        agent.stop()
        collector.stop()
