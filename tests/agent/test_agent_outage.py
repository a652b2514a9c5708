"""Nothing the agent observed is lost to a broker outage, a SIGKILL or a full outbox.

Real Mosquitto, real agent processes (``python -m jishi.cli agent run``), a persistent-session
subscriber standing in for the collector. The truth is what the agent logged: every transition
it decided is logged before it is written to the outbox.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from support.agentproc import AgentProcess, Recorder, agent_process, dedupe, sim_agent_toml
from support.servers import Mosquitto

pytestmark = pytest.mark.integration


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def assert_exactly_once_in_order(
    recorder: Recorder, agents: list[AgentProcess], instrument: str
) -> list[dict]:
    """Every logged transition arrived exactly once (after dedupe), in order, nothing extra."""
    # Agents sharing a data dir share a log: read each log once.
    logs = {agent.data_dir: agent for agent in agents}
    logged = [
        (s, since)
        for agent in logs.values()
        for inst, s, since in agent.transitions()
        if inst == instrument
    ]
    received = dedupe(recorder.of_kind("state", instrument))
    # Order: by boot (agents ran one after the other), then seq.
    boots = list(dict.fromkeys(m["boot_id"] for m in received))
    received.sort(key=lambda m: (boots.index(m["boot_id"]), m["seq"]))
    assert [m["state"] for m in received] == [s for s, _ in logged]
    assert [_ms(m["since"]) for m in received] == [_ms(since) for _, since in logged]
    return received


@contextlib.contextmanager
def recorded_agent(
    tmp_path: Path, broker: Mosquitto, agent_toml: str
) -> Iterator[tuple[AgentProcess, Recorder]]:
    """An agent process with ``agent_toml`` and a recorder standing in for the collector."""
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml)
    recorder = Recorder("127.0.0.1", broker.port).start()
    try:
        with agent_process(config, tmp_path / "agent") as agent:
            yield agent, recorder
    finally:
        recorder.stop()


def outage(broker: Mosquitto, seconds: float) -> None:
    """The broker is down for ``seconds``, then back (and given a second to settle)."""
    broker.stop()
    time.sleep(seconds)
    broker.start()
    time.sleep(1)


def wait_for_replay(
    recorder: Recorder, agent: AgentProcess, instrument: str, timeout: float = 30
) -> None:
    """Until every transition the agent has logged so far has arrived."""
    target = len(agent.transitions())
    assert recorder.wait_for(
        lambda: len(dedupe(recorder.of_kind("state", instrument))) >= target, timeout
    )


@pytest.mark.slow
def test_broker_outage_and_sigkill_lose_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "agent.toml"
    # A change every 0.5 s: at least 10 during a 12 s outage even with the restart gap. The
    # second agent never connects before the broker is back, so only the age rule makes its
    # messages historical: 1 s instead of 5 s lets the outage be short.
    config.write_text(
        sim_agent_toml(
            mosquitto.url,
            instruments={"nmr-1": [("idle", 0.5), ("running", 0.5), ("off", 0.5)]},
            outbox="historical_after_s = 1.0",
        )
    )
    recorder = Recorder("127.0.0.1", mosquitto.port).start()
    data_dir = tmp_path / "agent"
    first = AgentProcess(config, data_dir).start()
    try:
        assert recorder.wait_for(lambda: len(recorder.of_kind("state", "nmr-1")) >= 2, 20)
        before_outage = len(first.transitions())
        mosquitto.stop()
        outage_start = time.monotonic()
        time.sleep(6)
        first.kill()  # SIGKILL mid-outage: whatever sat in the outbox must survive
        second = AgentProcess(config, data_dir).start()
        time.sleep(max(0.0, 12 - (time.monotonic() - outage_start)))
        logged_before = len(second.transitions())  # one log for both runs (same data dir)
        mosquitto.start()
        wait_for_replay(recorder, second, "nmr-1", timeout=60)
        second.stop()
    finally:
        first.stop()
        recorder.stop()
    assert logged_before - before_outage >= 10
    received = assert_exactly_once_in_order(recorder, [second], "nmr-1")
    historical = [m for m in received if m["historical"]]
    assert len(historical) >= 10, "messages observed during the outage are flagged historical"
    assert {m["boot_id"] for m in historical} == {
        m["boot_id"] for m in received
    }  # both boots replayed
    # Clean stop of the second agent left a retained online:false.
    assert recorder.of_kind("status", "nmr-1")[-1]["online"] is False


def test_short_outage_replays_in_order(tmp_path: Path, mosquitto: Mosquitto) -> None:
    toml = sim_agent_toml(mosquitto.url, instruments={"sem-1": [("idle", 1.0), ("running", 1.0)]})
    with recorded_agent(tmp_path, mosquitto, toml) as (agent, recorder):
        assert recorder.wait_for(lambda: len(recorder.of_kind("state", "sem-1")) >= 2, 20)
        outage(mosquitto, 8)
        wait_for_replay(recorder, agent, "sem-1")
        agent.stop()
    received = assert_exactly_once_in_order(recorder, [agent], "sem-1")
    assert sum(m["historical"] for m in received) >= 4
    hbs = dedupe(recorder.of_kind("hb", "sem-1"))
    assert [m["seq"] for m in hbs] == sorted(m["seq"] for m in hbs)


def test_full_outbox_thins_heartbeats_keeps_states(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # 20 kB outbox, a heartbeat every 0.1 s (~1 kB each): the bound is hit within seconds.
    toml = sim_agent_toml(
        mosquitto.url,
        instruments={"xrd-1": [("idle", 1.0), ("running", 1.0)]},
        heartbeat_s=0.1,
        poll_s=0.1,
        outbox="max_mb = 0.02",
    )
    with recorded_agent(tmp_path, mosquitto, toml) as (agent, recorder):
        assert recorder.wait_for(lambda: len(recorder.of_kind("state", "xrd-1")) >= 1, 20)
        outage(mosquitto, 10)
        wait_for_replay(recorder, agent, "xrd-1")
        # A live heartbeat after the replay reports the drops.
        assert recorder.wait_for(
            lambda: any(m["health"]["dropped"] > 0 for m in recorder.of_kind("hb", "xrd-1")), 10
        )
        agent.stop()
    assert_exactly_once_in_order(recorder, [agent], "xrd-1")
    dropped = max(m["health"]["dropped"] for m in recorder.of_kind("hb", "xrd-1"))
    assert dropped >= 20
    log = (tmp_path / "agent" / "logs" / "agent.log").read_text()
    assert "outbox full" in log and "dropped" in log
