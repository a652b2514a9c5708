"""Sessions survive a broker outage and a SIGKILL of the agent, like states (issue 13).

Real Mosquitto, real agent processes, ``jishi agent sign-in`` / ``sign-out`` as real processes,
a persistent-session subscriber standing in for the collector.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.agentproc import AgentProcess, Recorder, dedupe, sim_agent_toml
from support.cli import run_jishi
from support.servers import Mosquitto
from support.waiting import poll_until

pytestmark = pytest.mark.integration

SIGNIN = """
[[instruments.sources]]
driver = "signin"
name = "desk"
"""


def _config(tmp_path: Path, broker: str) -> Path:
    toml = sim_agent_toml(
        broker,
        instruments={"nmr-1": [("running", 3.0), ("idle", 3.0)]},
        outbox="historical_after_s = 1.0",  # what waited out the outage is historical
    )
    # The simulated source becomes the first of two sources; the sign-in point the second.
    toml = toml.replace("[instruments.source]", "[[instruments.sources]]") + SIGNIN
    path = tmp_path / "agent.toml"
    path.write_text(toml)
    return path


@pytest.mark.slow
def test_sessions_survive_an_outage_and_a_sigkill(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = _config(tmp_path, mosquitto.url)
    data_dir = tmp_path / "agent"
    spool = data_dir / "sources" / "nmr-1" / "desk" / "spool"
    cli = ("-c", str(config), "--data-dir", str(data_dir))
    recorder = Recorder("127.0.0.1", mosquitto.port).start()
    first = AgentProcess(config, data_dir).start()
    second: AgentProcess | None = None
    try:
        assert recorder.wait_for(lambda: recorder.of_kind("state", "nmr-1"), 20)
        mosquitto.stop()
        signed = run_jishi("agent", "sign-in", *cli, "zhang", "--user-type", "external")
        assert signed.returncode == 0, signed.stderr
        # The agent took it into its outbox (it deletes the request only then) ...
        assert poll_until(lambda: not list(spool.glob("*.json")), 20, 0.1)
        first.kill()  # ... and dies with the broker still away.
        signed = run_jishi("agent", "sign-out", *cli, "--outcome", "fault", "--samples", "2")
        assert signed.returncode == 0, signed.stderr  # while no agent runs at all
        second = AgentProcess(config, data_dir).start()
        time.sleep(2)
        mosquitto.start()
        assert recorder.wait_for(lambda: len(dedupe(recorder.of_kind("session", "nmr-1"))) >= 2, 60)
        second.stop()
    finally:
        first.stop()
        if second is not None:
            second.stop()
        recorder.stop()
    start, end = sorted(
        dedupe(recorder.of_kind("session", "nmr-1")), key=lambda m: m["event"] != "start"
    )
    assert (start["event"], start["user"], start["user_type"], start["source"]) == (
        "start",
        "zhang",
        "external",
        "desk",
    )
    assert start["historical"] is True  # sent from the outbox after the outage
    assert (end["event"], end["session_id"], end["outcome"], end["sample_count"]) == (
        "end",
        start["session_id"],
        "fault",
        2,
    )
    assert start["boot_id"] != end["boot_id"]  # the end came from the second agent
