"""Hours as the evidence says, end to end (issue 12): a real agent, Mosquitto and two collector
processes (SQLite and PostgreSQL ledgers, both subscribed to everything), the timeline and usage
read back from their APIs and compared with the times written into the vendor files.

* A TopSpin acquisition of a dozen heartbeat intervals whose ``audita.txt`` appears only when it
  ends, while every heartbeat can only say "idle": counts in full.
* An FCS file written at the end of its acquisition, found on the next folder scan: counts.
* A GBK log with two runs (90 and 60 min) already there before the agent's first start: both
  count in full.
* A log renamed (rotated) and a new one begun with a start line: running without an idle island.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from support import messages as h
from support.agentproc import AgentProcess, sim_agent_toml
from support.collectorproc import CollectorProcess
from support.servers import Mosquitto
from support.vendor_files import fcs_run, topspin_audita

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ZONE = ZoneInfo("Asia/Shanghai")
# Every wait below is counted in heartbeats: stale_after is 2.5 of them, so a run of RUN_S
# outlasts it five times and a dozen heartbeats that say "idle" come before its record.
HEARTBEAT_S = 2.0
RUN_S = 12 * HEARTBEAT_S + 2
FLOW_S = 5.5 * HEARTBEAT_S


def local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def agent_toml(broker: str, folders: dict[str, Path]) -> str:
    header = f"""
site = "lab"
heartbeat_interval_s = {HEARTBEAT_S}
poll_interval_s = 1.0

[mqtt]
broker = "{broker}"
reconnect_min_s = 0.2
reconnect_max_s = 2
"""
    sources = {
        "nmr": 'profile = "bruker-topspin"\nrecord_flush_s = 1\nscan_interval_s = 2',
        "flow": 'profile = "fcs"\ntimezone = "Asia/Shanghai"\nscan_interval_s = 5',
        "xrd": 'files = ["*.log"]\nencoding = "auto"\n' + own_rules("开始测样", "测样结束"),
        "rot": 'files = ["rot.log"]\nscan_interval_s = 5\n' + own_rules("START", "END"),
    }
    return header + "".join(
        f'\n[[instruments]]\nid = "{name}"\n[instruments.source]\ndriver = "logs"\n'
        f'path = "{folders[name]}"\n{settings}\n'
        for name, settings in sources.items()
    )


def own_rules(start: str, end: str) -> str:
    """Log rules of our own: ``<local time> <start>`` runs, ``<local time> <end>`` idles."""
    return f"""timezone = "Asia/Shanghai"
time_format = "%Y-%m-%d %H:%M:%S"
rules = [
    {{ pattern = '^(?P<ts>\\S+ \\S+) {start}', state = "running" }},
    {{ pattern = '^(?P<ts>\\S+ \\S+) {end}', state = "idle" }},
]"""


def timeline(collector: CollectorProcess, instrument: str, lo: datetime, hi: datetime) -> list[Any]:
    query = urllib.parse.urlencode({"start": lo.isoformat(), "end": hi.isoformat()})
    status, body = collector.get(f"/api/v1/instruments/{instrument}/timeline?{query}")
    assert status == 200, body
    return [
        (i["state"], datetime.fromisoformat(i["start"]), datetime.fromisoformat(i["end"]))
        for i in body["intervals"]
    ]


def running(intervals: list[Any]) -> list[tuple[datetime, datetime]]:
    return [(a, b) for state, a, b in intervals if state == "running"]


def usage(collector: CollectorProcess, instrument: str, lo: datetime, hi: datetime) -> Any:
    query = urllib.parse.urlencode(
        {"start": lo.isoformat(), "end": hi.isoformat(), "instrument": instrument}
    )
    status, body = collector.get(f"/api/v1/usage?{query}")
    assert status == 200, body
    return body["results"][0]


def close_to(a: datetime, b: datetime, tolerance_s: float = 0.002) -> bool:
    return abs((a - b).total_seconds()) <= tolerance_s


def test_records_read_late_and_backlogs_count_in_full(
    tmp_path: Path, mosquitto: Mosquitto, pg_url: str
) -> None:
    folders = {name: tmp_path / name for name in ("nmr", "flow", "xrd", "rot")}
    for folder in folders.values():
        folder.mkdir()
    t0 = whole_second(datetime.now(UTC))
    # Before the agent's first start: an NMR experiment that ended 9 min ago (so the agent says
    # idle from the start), an old FCS file, a GBK log with two runs, a rotated log's last run.
    earlier = t0 - timedelta(minutes=10)
    (folders["nmr"] / "261202-a" / "1").mkdir(parents=True)
    (folders["nmr"] / "261202-a" / "1" / "audita.txt").write_text(
        topspin_audita(earlier, earlier + timedelta(minutes=1)), encoding="utf-8"
    )
    (folders["flow"] / "old.fcs").write_bytes(
        fcs_run(
            t0.astimezone(ZONE) - timedelta(hours=1), t0.astimezone(ZONE) - timedelta(minutes=50)
        )
    )
    backlog = [
        (t0 - timedelta(hours=4), "开始测样 样品 A-17"),
        (t0 - timedelta(hours=2, minutes=30), "测样结束"),
        (t0 - timedelta(hours=2), "开始测样 样品 A-18"),
        (t0 - timedelta(hours=1), "测样结束"),
    ]
    (folders["xrd"] / "xrd.log").write_bytes(
        "".join(f"{local(at)} {text}\r\n" for at, text in backlog).encode("gbk")
    )
    rot_log = folders["rot"] / "rot.log"
    rot_log.write_text(
        f"{local(t0 - timedelta(minutes=5))} START\n{local(t0 - timedelta(minutes=4))} END\n"
    )

    collectors = [
        CollectorProcess(tmp_path / "c-sqlite", mosquitto.url, client_id="c-sqlite").start(),
        CollectorProcess(tmp_path / "c-pg", mosquitto.url, db=pg_url, client_id="c-pg").start(),
    ]
    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(mosquitto.url, folders), encoding="utf-8")
    agent = AgentProcess(config, tmp_path / "agent").start()
    try:
        for collector in collectors:
            collector.wait_for("/api/v1/instruments/nmr", lambda r: r["state"] == "idle", 30)
        run_start = datetime.now(UTC)  # the acquisition starts; TopSpin writes nothing yet
        time.sleep(3)
        rot_start = whole_second(datetime.now(UTC)) + timedelta(seconds=1)
        time.sleep(1)
        rot_log.rename(folders["rot"] / "rot.log.1")
        rot_log.write_text(f"{local(rot_start)} START\n")
        flow_start = whole_second(datetime.now(UTC)) + timedelta(seconds=1)
        time.sleep(FLOW_S)
        flow_end = whole_second(datetime.now(UTC))
        # The cytometer writes the file when the acquisition ends; the agent finds it on its
        # next scan.
        (folders["flow"] / "run-0042.fcs").write_bytes(
            fcs_run(flow_start.astimezone(ZONE), flow_end.astimezone(ZONE))
        )
        rot_end = whole_second(datetime.now(UTC))
        with rot_log.open("a") as handle:
            handle.write(f"{local(rot_end)} END\n")
        time.sleep(max(0.0, RUN_S - (datetime.now(UTC) - run_start).total_seconds()))
        run_end = datetime.now(UTC)
        experiment = folders["nmr"] / "261202-a" / "2"
        experiment.mkdir()
        (experiment / "audita.txt").write_text(topspin_audita(run_start, run_end), encoding="utf-8")
        for collector in collectors:
            collector.wait_for("/api/v1/instruments/nmr", lambda r: r["state"] == "idle", 30)
            # The records found on the folders' next scans reach the ledger (the rotated log's
            # run closed by its END line).
            deadline = time.monotonic() + 30
            while not (
                running(timeline(collector, "nmr", t0, datetime.now(UTC)))
                and running(timeline(collector, "flow", t0, datetime.now(UTC)))
                and any(
                    end <= rot_end
                    for _, end in running(timeline(collector, "rot", t0, datetime.now(UTC)))
                )
            ):
                assert time.monotonic() < deadline, collector.workdir.name
                time.sleep(0.5)
        time.sleep(2 * HEARTBEAT_S)  # let heartbeats follow the runs
        now = datetime.now(UTC)
        for collector in collectors:
            where = collector.workdir.name
            # TopSpin: exactly the run the audit entry records (ms precision in the file).
            nmr = timeline(collector, "nmr", t0 - timedelta(minutes=1), now)
            (got_start, got_end), *_ = [r for r in running(nmr) if r[1] > t0]
            assert close_to(got_start, run_start) and close_to(got_end, run_end), (where, nmr)
            after_start = [i for i in nmr if i[2] > t0 + timedelta(seconds=10)]
            assert {i[0] for i in after_start} == {"idle", "running"}, (where, nmr)
            figures = usage(collector, "nmr", run_start - timedelta(seconds=30), now)
            assert abs(figures["running_s"] - (run_end - run_start).total_seconds()) < 1.0, where
            # FCS: found after its acquisition, counted from $BTIM to $ETIM.
            flow = timeline(collector, "flow", t0, now)
            assert running(flow) == [(flow_start, flow_end)], (where, flow)
            # The backlog, present before the first start: both runs, to the second.
            xrd = timeline(collector, "xrd", t0 - timedelta(hours=5), now)
            assert running(xrd) == [(backlog[0][0], backlog[1][0]), (backlog[2][0], backlog[3][0])]
            assert [s for s, _, _ in xrd] == ["unknown", "running", "idle", "running", "idle"], (
                where,
                xrd,
            )
            # Rotation: one run, no idle island while the new file was not found yet.
            rot = timeline(collector, "rot", rot_start - timedelta(seconds=30), now)
            assert running(rot) == [(rot_start, rot_end)], (where, rot)
    finally:
        agent.stop()
        for collector in collectors:
            collector.stop()


def unknown_s(intervals: list[Any]) -> float:
    return sum((b - a).total_seconds() for state, a, b in intervals if state == "unknown")


def test_a_broker_restart_is_not_an_outage_but_a_dead_agent_is(
    tmp_path: Path, mosquitto: Mosquitto, pg_url: str
) -> None:
    """Mosquitto stopped with SIGTERM for a while publishes every agent connection's will; the
    agent goes on observing and replays with its chain unbroken, so the wills are withdrawn:
    no unknown time. An agent killed with the broker up: unknown from its will until it is back.
    """
    # The collectors retry the broker every second at most, so they are back soon after it.
    again = "reconnect_max_s = 1"
    collectors = [
        CollectorProcess(
            tmp_path / "c-sqlite", mosquitto.url, client_id="c-sqlite", extra_mqtt=again
        ).start(),
        CollectorProcess(
            tmp_path / "c-pg", mosquitto.url, db=pg_url, client_id="c-pg", extra_mqtt=again
        ).start(),
    ]
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            mosquitto.url,
            instruments={"ms-1": [("running", 3600.0)], "gc-2": [("idle", 3600.0)]},
            heartbeat_s=2.0,
        )
    )
    agent = AgentProcess(config, tmp_path / "agent").start()
    try:
        for collector in collectors:
            for name in ("ms-1", "gc-2"):
                collector.wait_for(f"/api/v1/instruments/{name}", lambda r: r["online"], 30)
        time.sleep(6)
        stopped = datetime.now(UTC)
        mosquitto.stop()  # SIGTERM
        # Down three times stale_after (2.5 heartbeats of 2 s) and the agent's
        # historical_after_s (5 s): the agent queues and replays its observations as history.
        time.sleep(15)
        mosquitto.start()
        restarted = datetime.now(UTC)
        window = (stopped - timedelta(seconds=5), restarted + timedelta(seconds=5))
        time.sleep(8)
        for collector in collectors:
            for name in ("ms-1", "gc-2"):
                deadline = time.monotonic() + 60
                while unknown_s(timeline(collector, name, *window)) > 0:
                    assert time.monotonic() < deadline, (
                        collector.workdir.name,
                        name,
                        timeline(collector, name, *window),
                    )
                    time.sleep(0.5)
                states = {s for s, _, _ in timeline(collector, name, *window)}
                assert states == {"running" if name == "ms-1" else "idle"}
        # The broker did publish the wills at its stop; the chain across them withdrew them.
        with sqlite3.connect(tmp_path / "c-sqlite" / "ledger.sqlite3") as ledger:
            wills = ledger.execute("SELECT instrument_id, withdrawn FROM wills").fetchall()
        assert sorted(wills) == [("gc-2", 1), ("ms-1", 1)]

        # Now the agent dies with the broker up: its will stands until a new boot reports.
        agent.kill()
        killed = datetime.now(UTC)
        time.sleep(8)
        agent = AgentProcess(config, tmp_path / "agent").start()
        back = datetime.now(UTC)
        time.sleep(6)
        for collector in collectors:
            stretch = timeline(
                collector, "ms-1", killed - timedelta(seconds=5), back + timedelta(seconds=4)
            )
            gaps = [(a, b) for state, a, b in stretch if state == "unknown"]
            assert len(gaps) == 1, (collector.workdir.name, stretch)
            gap_start, gap_end = gaps[0]
            # From the will (the socket closed at the kill) until the new boot's first state.
            assert abs((gap_start - killed).total_seconds()) < 1.5, stretch
            assert back - timedelta(seconds=1) < gap_end < back + timedelta(seconds=4), stretch
    finally:
        agent.stop()
        for collector in collectors:
            collector.stop()


def test_usage_api_and_report_agree_on_a_period_that_ends_tomorrow(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Both end the period now, say partial and prorate the quota the same way."""
    collector = CollectorProcess(tmp_path / "collector", mosquitto.url).start()
    now = time.time()
    today = datetime.fromtimestamp(now, ZONE).date()
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=ZONE).timestamp()
    first = max(day_start + 1, now - 3600)
    messages = [h.birth("nmr", 0, first - 1, hb=30.0, boot="boot-nmr")]
    beats = int((now - first) // 30)
    messages += [
        h.hb(
            "nmr",
            k + 1,
            first + 30 * k,
            "running" if k % 4 else "idle",
            boot="boot-nmr",
            interval=30,
        )
        for k in range(beats)
    ]
    publisher = h.Publisher(mosquitto.port)
    publisher.publish_all(messages)
    publisher.close()
    collector.wait_for("/api/v1/instruments/nmr", lambda r: r["last_ts"] is not None, 20)
    time.sleep(1)
    start, end = today.isoformat(), (today + timedelta(days=1)).isoformat()
    status, body = collector.get(f"/api/v1/usage?start={start}&end={end}&instrument=nmr")
    assert status == 200, body
    result = subprocess.run(
        [sys.executable, "-m", "jishi.cli", "report", "figures", "-c",
         str(collector.workdir / "collector.toml"), "--start", start, "--end", end,
         "--format", "json", "--no-progress"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    collector.stop()
    report = json.loads(result.stdout)
    assert body["partial"] is True and report["period"]["partial"] is True
    api_end = datetime.fromisoformat(body["end"]).timestamp()
    report_end = datetime.fromisoformat(report["period"]["end"]).timestamp()
    assert 0 <= report_end - api_end < 30
    api, rep = body["results"][0], report["instruments"][0]["raw"]
    # The last heartbeat is still fresh: observed time, quota and unknown time grow with the
    # seconds between the two calls, nothing more.
    later = report_end - api_end + 0.1  # each side reads its clock more than once
    for figure in ("effective_s", "running_s", "idle_s"):
        assert api[figure] <= rep[figure] <= api[figure] + later, figure
    assert api["quota_s"] == pytest.approx(rep["quota_s"], rel=2e-3)
    assert api["utilization"] == pytest.approx(rep["utilization"], rel=2e-3)
    assert api["unknown_s"] <= rep["unknown_s"] <= api["unknown_s"] + later
