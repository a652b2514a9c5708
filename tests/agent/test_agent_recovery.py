"""Restarts and refusals: the agent continues from its saved inference state, dates
heartbeats honestly while a state change waits out its dwell, refuses a shared data dir,
and backs off (no reconnect storm) when the broker refuses its publishes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jishi.agent.config import AgentConfig
from jishi.agent.inference import Rules, StateInferrer
from jishi.agent.runtime import Agent
from jishi.agent.wire import decode_any
from jishi.collector.usage.evidence import evidence_of, resolve
from jishi.config import validate_table
from jishi.drivers.base import Reading, StateEvent
from jishi.errors import JishiError

from support.agentproc import agent_process, sim_agent_toml
from support.servers import mosquitto

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class Script:
    """A driver that returns prepared readings, one list per poll (a test double standing in
    for a log source; real log sources are tested in tests/drivers)."""

    name = "script"

    def __init__(self, polls: list[list[Reading]]) -> None:
        self.polls = polls

    def poll(self, now: datetime) -> Sequence[Reading]:
        return self.polls.pop(0) if self.polls else [Reading(ts=now)]

    def close(self) -> None:
        pass


def config(dwell: float = 0.0) -> AgentConfig:
    return validate_table(
        "agent.toml",
        AgentConfig,
        {
            "site": "lab",
            "heartbeat_interval_s": 30,
            "instruments": [
                {"id": "nmr-1", "source": {"driver": "scripted"}, "rules": {"min_dwell_s": dwell}}
            ],
        },
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def scripted_agent(
    data_dir: Path,
    polls: list[list[Reading]],
    *,
    dwell: float = 0.0,
    clock: Callable[[], datetime] | None = None,
) -> Agent:
    """An agent on scripted readings that publishes nothing: its outbox is what a test reads."""
    return Agent(
        config(dwell),
        config_hash="x",
        data_dir=data_dir,
        clock=clock or Clock(),
        publish=False,
        drivers={"nmr-1": [Script(polls)]},
    )


def said(at: datetime, state: str, reason: str = "", *, record: bool = False) -> list[Reading]:
    """One poll whose reading carries one state event, as a log line gives it."""
    return [Reading(ts=at, events=(StateEvent(at, state, reason, record=record),))]


def rows(agent: Agent) -> list[dict[str, object]]:
    return [json.loads(r.payload) for r in agent.outbox.pending("nmr-1", limit=1000)]


def test_pending_dwell_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    before = T0 - timedelta(seconds=100)
    stop, start = said(before, "idle", "STOP"), said(T0, "running", "START")
    agent = scripted_agent(tmp_path, [stop, start], dwell=60, clock=clock).start()
    agent.instruments[0].core.poll_s = 1.0
    agent.tick(0.0)
    agent.tick(1.0)  # the START line is read (its offset would now be committed) ...
    assert agent.instruments[0].core.inferrer.pending_since == T0  # ... but waits out its dwell
    agent.close()  # as the OS does when the process is killed

    clock.now = T0 + timedelta(seconds=90)
    restarted = scripted_agent(tmp_path, [], dwell=60, clock=clock).start()
    restarted.tick(0.0)
    states = [m for m in rows(restarted) if m["kind"] == "state"]
    assert [(m["state"], m["since"]) for m in states] == [
        ("idle", "2026-05-01T07:58:20.000Z"),  # from the first run, still in the outbox
        ("running", "2026-05-01T08:00:00.000Z"),  # the pending START, not forgotten
    ]


def test_a_heartbeat_during_the_dwell_never_hides_the_change(tmp_path: Path) -> None:
    """While running waits out min_dwell_s the agent still holds idle and says so (dated now);
    once running is accepted, its message (since it appeared, later knowledge) overrides the
    heartbeat: the collector's rules give running from +100 s."""
    clock = Clock()
    later = T0 + timedelta(seconds=100)
    polls = [
        said(T0, "idle", "STOP"),
        said(later, "running", "START"),
        [Reading(ts=later + timedelta(seconds=30))],
        [Reading(ts=later + timedelta(seconds=61))],
    ]
    agent = scripted_agent(tmp_path, polls, dwell=60, clock=clock).start()
    inst = agent.instruments[0]
    inst.core.poll_s = 1.0
    agent.tick(0.0)  # idle decided, first heartbeat at T0
    clock.now = later
    agent.tick(1.0)  # running appears: pending for 60 s
    clock.now = later + timedelta(seconds=30)
    inst.core.next_heartbeat = 0.0
    agent.tick(2.0)
    heartbeats = [m for m in rows(agent) if m["kind"] == "hb"]
    assert (heartbeats[-1]["state"], heartbeats[-1]["ts"]) == ("idle", "2026-05-01T08:02:10.000Z")
    clock.now = later + timedelta(seconds=61)
    agent.tick(3.0)  # the dwell is over: running since +100 s
    messages = [decode_any(r.payload) for r in agent.outbox.pending("nmr-1", limit=1000)]
    claims, wills, boots = evidence_of([(m, clock.now.timestamp()) for m in messages], 75.0)
    lo = T0.timestamp()
    timeline = resolve(claims, wills, lo, lo + 170, boots)
    # (The test sends heartbeats only at 0 and +130 s: idle is fresh for 75 s.)
    assert [(i.state, i.start - lo) for i in timeline] == [
        ("idle", 0.0),
        ("unknown", 75.0),
        ("running", 100.0),
    ]
    agent.close()


def test_inferrer_snapshot_round_trip() -> None:
    inferrer = StateInferrer(Rules(min_dwell_s=10))
    inferrer.feed(Reading(ts=T0, events=(StateEvent(T0, "idle"),)))
    inferrer.feed(
        Reading(
            ts=T0 + timedelta(seconds=5), events=(StateEvent(T0 + timedelta(seconds=5), "fault"),)
        )
    )
    copy = StateInferrer(Rules(min_dwell_s=10))
    copy.restore(json.loads(json.dumps(inferrer.snapshot())))
    assert copy.snapshot() == inferrer.snapshot()
    assert copy.state is not None and copy.state.value == "idle"
    assert copy.pending_since == T0 + timedelta(seconds=5)


def test_a_data_dir_serves_one_agent(tmp_path: Path) -> None:
    data_dir = tmp_path / "agent"
    second = scripted_agent(data_dir, [])
    assert not data_dir.exists(), "building an agent touches nothing on disk"
    with (
        scripted_agent(data_dir, []),
        pytest.raises(JishiError, match="in use by agent pid"),
    ):
        second.start()
    second.start().close()  # free again once the first let go


@pytest.mark.integration
def test_refused_publishes_back_off_instead_of_storming(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    # Anonymous clients may publish their status, nothing else (an ACL that forgot state/hb).
    acl.write_text("topic write jishi/v1/+/+/status\ntopic read jishi/v1/#\n")
    with mosquitto(tmp_path / "mosquitto", extra_conf=[f"acl_file {acl}"]) as broker:
        toml = tmp_path / "agent.toml"
        scenario = {"nmr-1": [("running", 3600.0)]}
        toml.write_text(
            sim_agent_toml(broker.url, instruments=scenario, extra_mqtt='protocol = "5"')
        )
        with agent_process(toml, tmp_path / "agent"):
            time.sleep(8)
    log = (tmp_path / "agent" / "logs" / "agent.log").read_text()
    connects = log.count("connected to mqtt://")
    refusals = [line for line in log.splitlines() if "refused a publish" in line]
    assert refusals and "ACL" in refusals[0]
    # reconnect_min_s is 0.2 s in the test config: doubling from there, about 5 tries fit in
    # 8 s. Without the backoff this was thousands.
    assert connects >= 1, log
    assert connects <= 8, connects
    assert len([line for line in log.splitlines() if "WARNING" in line]) <= 10


def test_a_restart_during_a_logged_run_says_the_record_again(tmp_path: Path) -> None:
    """The log said running at 08:00; the agent died and came back at 09:00 with nothing new
    in the log. The record holds until the source's next one (DESIGN.md), also across the
    downtime: the new boot says running since 08:00 again, as a record."""
    clock = Clock()
    start = said(T0, "running", "START", record=True)
    agent = scripted_agent(tmp_path, [start], clock=clock).start()
    agent.instruments[0].core.poll_s = 1.0
    agent.tick(0.0)
    agent.close()  # killed
    clock.now = T0 + timedelta(hours=1)
    restarted = scripted_agent(tmp_path, [[]], clock=clock).start()
    restarted.tick(0.0)
    again = [
        m
        for m in rows(restarted)
        if m["kind"] == "state" and not str(m["boot_id"]).startswith(agent.boot_id)
    ]
    restarted.close()
    assert [(m["state"], m["since"], m["evidence"], m["ts"]) for m in again] == [
        ("running", "2026-05-01T08:00:00.000Z", "record", "2026-05-01T09:00:00.000Z")
    ]
