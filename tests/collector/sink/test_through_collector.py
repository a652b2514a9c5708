"""The InfluxDB mirror through a running collector: MQTT messages as agents publish them ->
collector (ledger, roll-ups, staleness sweep) -> sink -> a real influxd 1.6 / VictoriaMetrics.

The dashboard scenario (tests/support/dashboard_scenario.py) is played over a real Mosquitto
with a scenario clock handed to the collector, then every panel query of every dashboard is run
with the machinery of tests/support/dashboard_checks.py. The daily roll-ups there are
synthetic; here they are whatever the collector computed, read from its ledger, so the panels are
checked against the ledger's figures.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import tables
from jishi.collector.service import Collector, start_collector

import support.dashboard_checks as tdq
from support import dashboard_scenario as sc
from support.agentproc import AgentProcess, sim_agent_toml
from support.grafana import dashboard_queries
from support.influx import TEST_DB as DB
from support.influx import InfluxDB1, VictoriaMetrics
from support.servers import Mosquitto

pytestmark = pytest.mark.integration

ROOT = "jishi/v1"
HISTORY = timedelta(days=2)  # the first state began two days before T0: days -2 and -1 known
HB_S = sc.HEARTBEAT_MIN * 60.0
WILL_SEQ = 1_000_000


class SimClock:
    """The collector's clock, moved by the test through the scenario."""

    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at.timestamp()


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def boot_of(meta: sc.InstrumentMeta) -> str:
    return "boot-" + meta.instrument.replace(".", "-")


class Agentish:
    """Publishes wire messages for the scenario's instruments, one boot and seq per instrument."""

    def __init__(self, port: int, root: str = ROOT) -> None:
        self.root = root
        self.seq: dict[str, int] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agentish-{port}")
        self.client.max_inflight_messages_set(200)
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(10)
        self.published = 0

    def topic(self, meta: sc.InstrumentMeta, kind: str) -> str:
        return f"{self.root}/{meta.site}/{meta.instrument}/{kind}"

    def body(self, meta: sc.InstrumentMeta, kind: str, ts: datetime, **fields: Any) -> bytes:
        seq = self.seq.get(meta.instrument, 0)
        self.seq[meta.instrument] = seq + 1
        return json.dumps(
            {
                "schema": 1,
                "kind": kind,
                "instrument": meta.instrument,
                "site": meta.site,
                "boot_id": boot_of(meta),
                "seq": seq,
                "ts": iso(ts),
                **fields,
            }
        ).encode()

    def send(self, meta: sc.InstrumentMeta, kind: str, ts: datetime, **fields: Any) -> None:
        info = self.client.publish(
            self.topic(meta, "hb" if kind == "hb" else kind),
            self.body(meta, kind, ts, **fields),
            qos=1,
        )
        info.wait_for_publish(10)
        self.published += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def die_with_will(port: int, meta: sc.InstrumentMeta, topic: str) -> mqtt.Client:
    """An agent connection holding ``meta``'s last will; ``kill()`` drops it without DISCONNECT."""
    will = json.dumps(
        {
            "schema": 1,
            "kind": "status",
            "instrument": meta.instrument,
            "site": meta.site,
            "boot_id": boot_of(meta),
            "seq": WILL_SEQ,
            "ts": iso(sc.T0),
            "online": False,
        }
    ).encode()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agent-{boot_of(meta)}")
    client.will_set(topic, will, qos=1)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    assert connected.wait(10)
    return client


def kill(client: mqtt.Client) -> None:
    client.loop_stop()
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def wait_stored(collector: Collector, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while collector.metrics.stored < count:
        assert time.monotonic() < deadline, (collector.metrics.stored, count)
        time.sleep(0.01)
    assert not collector.metrics.dead_letters, collector.metrics.dead_letters


def collector_config(tmp: Path, broker: str, influx: dict[str, Any]) -> CollectorConfig:
    return CollectorConfig.model_validate(
        {
            "data_dir": str(tmp / "collector"),
            "mqtt": {"broker": broker, "client_id": "sink-collector"},
            "api": {"port": 0},
            "site": {"timezone": "UTC"},  # the scenario's days are UTC days
            "influx": {
                "flush_interval_s": 0.1,
                "spool_interval_s": 0.05,
                "retry_min_s": 0.2,
                "retry_max_s": 1.0,
                "timeout_s": 2.0,
                **influx,
            },
        }
    )


# --- (1) the dashboard scenario through the collector into influxd 1.6 ------------------------


def play_scenario(collector: Collector, clock: SimClock, port: int, will: mqtt.Client) -> None:
    """What agents would publish for dashboard_scenario.py: births, state changes, heartbeats
    every 5 min while fresh; ms-3's agent dies at minute 300 (its will); nmr-1 is silent from
    175 to 210. The unknown points are the collector's to derive."""
    agent = Agentish(port)
    clock.set(sc.at(0))
    for meta in sc.TRANSITIONS:
        agent.send(
            meta,
            "status",
            sc.at(0),
            online=True,
            heartbeat_interval_s=HB_S,
            stale_after_s=HB_S,  # fresh for one heartbeat: nmr-1 is unknown from 180
            unit=meta.unit,
            category=meta.category,
        )
    events: list[tuple[int, int, sc.InstrumentMeta]] = []
    for meta, transitions in sc.TRANSITIONS.items():
        events += [(m, 0, meta) for m, state, _ in transitions if state != "unknown"]
        events += [
            (m, 1, meta) for m in range(0, sc.END_MIN, sc.HEARTBEAT_MIN) if sc.fresh(meta, m)
        ]
    for minute in sorted({e[0] for e in events} | {300}):
        clock.set(sc.at(minute))
        if minute == 300:
            kill(will)  # the broker publishes ms-3's will now
            wait_stored(collector, agent.published + 1)
        for _, kind, meta in sorted(
            (e for e in events if e[0] == minute), key=lambda e: (e[1], e[2].instrument)
        ):
            begun = max(m for m, _, _ in sc.TRANSITIONS[meta] if m <= minute)
            since = sc.at(begun) if begun else sc.T0 - HISTORY
            state = sc.state_at(meta, minute)
            if kind == 0:
                agent.send(meta, "state", sc.at(minute), state=state, since=iso(since))
                continue
            power = (sc.XRD_POWER_W if meta == sc.XRD else sc.POWER_W)[state]
            agent.send(
                meta,
                "hb",
                sc.at(minute),
                state=state,
                since=iso(since),
                interval_s=HB_S,
                readings={"power_w": power, "current_a": round(power / 230, 3), "mode": state},
                health=sc._health(meta, minute),
            )
        wait_stored(collector, agent.published + (1 if minute >= 300 else 0))
    agent.close()


@dataclass
class Mirrored:
    loaded: sc.Loaded
    daily: dict[sc.InstrumentMeta, dict[int, dict[str, float]]]
    health: dict[str, Any]
    metrics: str


def ledger_daily(collector: Collector) -> dict[sc.InstrumentMeta, dict[int, dict[str, float]]]:
    metas = {m.instrument: m for m in sc.TRANSITIONS}
    out: dict[sc.InstrumentMeta, dict[int, dict[str, float]]] = {m: {} for m in metas.values()}
    with collector.engines.read.connect() as conn:
        for row in conn.execute(select(tables.daily_usage)).mappings():
            offset = (datetime.fromisoformat(row["day"]).date() - sc.T0.date()).days
            out[metas[row["instrument_id"]]][offset] = {
                name: row[name] for name in tables.FIGURE_COLUMNS
            }
    return out


def get(url: str, token: str | None = "t0k") -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirrored]:
    tmp = tmp_path_factory.mktemp("through-collector")
    broker = Mosquitto(workdir=tmp / "mosquitto")
    broker.start()
    influx = InfluxDB1(workdir=tmp / "influxd").start()
    collector: Collector | None = None
    try:
        influx.create_database(DB)
        config = collector_config(
            tmp,
            broker.url,
            {
                "api": "v1",
                "url": influx.url,
                "database": DB,
                "state_refresh_s": sc.STATE_REFRESH_S,
                "self_report_interval_s": 0.2,
                "collector_name": "test-collector",
            },
        )
        clock = SimClock(sc.at(0))
        will = die_with_will(broker.port, sc.MS, f"{ROOT}/{sc.MS.site}/{sc.MS.instrument}/status")
        collector = start_collector(
            config, admin_token="t0k", clock=clock, rollup_interval_s=0.2, sink_sweep_s=0.05
        )
        play_scenario(collector, clock, broker.port, will)
        # Roll-ups for the two closed days, computed by the collector and mirrored.
        deadline = time.monotonic() + 20
        while sum(len(d) for d in ledger_daily(collector).values()) < 6:
            assert time.monotonic() < deadline, ledger_daily(collector)
            time.sleep(0.1)
        time.sleep(0.5)  # one more sweep and roll-up pass at the final clock
        assert collector.sink is not None
        assert collector.sink.flush(30), collector.sink.status()
        while not tdq.series_of(influx.query('SELECT count(*) FROM "jishi_sink"', db=DB)):
            assert time.monotonic() < deadline + 10, "the sink never reported itself"
            collector.sink.flush(1)
        _, health = get(f"{collector.api_url}/api/v1/health", token=None)
        _, metrics = get(f"{collector.api_url}/api/v1/metrics")
        daily = ledger_daily(collector)
        status = collector.sink.status()
        collector.stop()
        collector = None
        yield Mirrored(sc.Loaded(influx, status), daily, json.loads(health), metrics.decode())
    finally:
        if collector is not None:
            collector.stop()
        influx.stop()
        broker.stop()


def test_ledger_rolled_up_the_history(mirrored: Mirrored) -> None:
    for meta in sc.TRANSITIONS:
        assert set(mirrored.daily[meta]) == {-2, -1}, meta
        first_state = sc.TRANSITIONS[meta][0][1]
        for figures in mirrored.daily[meta].values():
            assert figures[f"{first_state}_s"] == 86_400.0
            assert figures["unknown_s"] == 0.0
            assert figures["quota_s"] > 0


def _health_with_estimate(meta: sc.InstrumentMeta, minute: int) -> dict[str, object]:
    return {"clock_offset_s": 0.0, **sc._health(meta, minute)}


@pytest.mark.parametrize("path", tdq.DASHBOARD_FILES, ids=lambda p: p.stem)
def test_every_panel_query_reads_what_the_collector_mirrored(
    mirrored: Mirrored, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The panels' expectations with the ledger's daily figures in place of the synthetic ones,
    # and the collector's clock-offset estimate where an agent reports none (0: the scenario's
    # messages are received at the simulated time they were sent).
    monkeypatch.setattr(tdq, "DAILY", mirrored.daily)
    monkeypatch.setattr(tdq, "_health", _health_with_estimate)
    dashboard = tdq.load(path)
    queries = dashboard_queries(dashboard)
    assert queries
    for ctx in [*tdq.CONTEXTS, tdq.live_ctx()]:
        for panel, target in queries:
            tdq.run_panel(mirrored.loaded, dashboard, panel, target, ctx)
    tdq.check_template_variables(mirrored.loaded, path)


def test_dead_agent_and_silence_are_explicit_unknown(mirrored: Mirrored) -> None:
    result = mirrored.loaded.influx.query(
        'SELECT "state", "online", "last_seen" FROM "jishi_state" '
        'WHERE "state" = \'unknown\' GROUP BY "instrument"',
        db=DB,
    )
    got = {
        name: [tuple(v) for v in series["values"]]
        for name, series in tdq.by_instrument(result).items()
    }
    assert got == {
        # heartbeats stopped after 175 (stale_after 5 min): unknown from 180, still online
        "nmr-1": [(tdq.ms(180), "unknown", 1, tdq.ms(175))],
        # the agent died at 300: its will, offline
        "ms-3": [(tdq.ms(300), "unknown", 0, tdq.ms(295))],
    }


def test_health_and_metrics_show_the_sink(mirrored: Mirrored) -> None:
    sink = mirrored.health["sink"]
    assert sink["healthy"] is True
    assert sink["backend"] == "influxdb-v1"
    assert mirrored.health["checks"]["influx"] is True
    assert sink["points_written"] > 0
    assert "jishi_sink_points_written_total" in mirrored.metrics
    # The collector's own metrics are still there, the sink's appended.
    assert "jishi_ingest_stored_total" in mirrored.metrics


# --- (2) the v2 path with a real agent process, read back from VictoriaMetrics ---------------


def test_v2_mirror_of_a_real_agent_that_goes_silent_then_dies(
    mosquitto: Mosquitto, victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    influx = {"api": "v2", "url": victoria.url, "org": "lab", "bucket": "jishi"}
    config = collector_config(tmp_path, mosquitto.url, {**influx, "self_report_interval_s": 0})
    collector = start_collector(config, admin_token="t0k", rollup_interval_s=5, sink_sweep_s=0.1)
    agent_toml = tmp_path / "agent.toml"
    agent_toml.write_text(
        sim_agent_toml(mosquitto.url, instruments={"sim-1": [("running", 3600.0)]}, heartbeat_s=1.0)
    )
    agent = AgentProcess(agent_toml, tmp_path / "agent").start()
    try:
        wait_stored(collector, 5)  # birth, state, heartbeats
        assert agent.process is not None
        agent.process.send_signal(signal.SIGSTOP)  # heartbeats stop, the connection stays up
        time.sleep(0.3)
        with collector.engines.read.connect() as conn:
            row = (
                conn.execute(select(tables.instruments).where(tables.instruments.c.id == "sim-1"))
                .mappings()
                .one()
            )
        stored = collector.metrics.stored
        time.sleep(3.5)  # past stale_after (2.5 heartbeats): the sweep's unknown, still online
        agent.kill()  # the socket closes: the broker publishes the will
        wait_stored(collector, stored + 1)
        deadline = time.monotonic() + 10
        while not offline(collector, "sim-1"):
            assert time.monotonic() < deadline, "the will never reached the ledger"
            time.sleep(0.05)
        assert collector.sink is not None
        assert collector.sink.flush(20), collector.sink.status()
    finally:
        agent.stop()
        collector.stop()
    # Samples only seconds old can be missing from an export for a moment: ask until they show.
    code = export_at_least(victoria, '{__name__="jishi_state_code",instrument="sim-1"}', 3)
    assert code["metric"]["site"] == "lab"
    online = export_at_least(victoria, '{__name__="jishi_state_online",instrument="sim-1"}', 3)
    stale_ms = int((row["last_ts"] + 2.5 * row["heartbeat_interval_s"]) * 1000)
    # running while heartbeats came; unknown (online) where data stopped being fresh; then the
    # will: unknown and offline at its receive time.
    assert code["values"][0] == 2
    assert code["values"][-2:] == [5, 5]
    assert online["values"][-2:] == [1, 0]
    assert code["timestamps"][-2] == stale_ms
    assert code["timestamps"][-1] > stale_ms
    (power,) = victoria.export('{__name__="jishi_reading_power_w",instrument="sim-1"}')
    assert max(power["timestamps"]) == int(row["last_ts"] * 1000)


def export_at_least(victoria: VictoriaMetrics, match: str, samples: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        (series,) = victoria.export(match)
        if len(series["values"]) >= samples or time.monotonic() > deadline:
            return series
        time.sleep(0.2)


def offline(collector: Collector, instrument: str) -> bool:
    with collector.engines.read.connect() as conn:
        t = tables.instruments
        return conn.execute(select(t.c.online).where(t.c.id == instrument)).scalar_one() is False


# --- (3) influxd stopped for a while during ingest -------------------------------------------


def test_influx_outage_during_collector_ingest_loses_no_point(
    mosquitto: Mosquitto, influx: InfluxDB1, tmp_path: Path
) -> None:
    config = collector_config(
        tmp_path,
        mosquitto.url,
        {"api": "v1", "url": influx.url, "database": DB, "self_report_interval_s": 0},
    )
    collector = start_collector(config, admin_token="t0k", rollup_interval_s=5, sink_sweep_s=0.5)
    metas = [sc.InstrumentMeta("lab", f"inst-{i}", "chem", "general") for i in range(3)]
    agent = Agentish(mosquitto.port)
    sent = dict.fromkeys((m.instrument for m in metas), 0)
    during: dict[str, Any] = {}
    try:
        for meta in metas:
            agent.send(meta, "status", datetime.now(UTC), online=True, heartbeat_interval_s=0.1)

        def beat(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for meta in metas:
                    n = sent[meta.instrument]
                    agent.send(
                        meta,
                        "hb",
                        datetime.now(UTC),
                        state="running",
                        since=iso(datetime.now(UTC)),
                        interval_s=0.1,
                        readings={"power_w": float(n)},
                    )
                    sent[meta.instrument] = n + 1
                time.sleep(0.1)

        beat(3)
        influx.stop()
        beat(10)  # ten retries at the longest back-off (retry_max_s = 1)
        _, body = get(f"{collector.api_url}/api/v1/health", token=None)
        during = json.loads(body)["sink"]
        influx.start()
        beat(3)
        wait_stored(collector, agent.published)
        assert collector.sink is not None
        assert collector.sink.flush(60), collector.sink.status()
        after = collector.sink.status()
    finally:
        agent.close()
        collector.stop()
    assert during["state"] == "retrying" and during["healthy"] is False
    assert during["spool_depth"] > 0
    assert after["healthy"] is True and after["spool_depth"] == 0
    assert after["points_dropped"] == after["points_rejected"] == 0
    result = influx.query('SELECT count("power_w") FROM "jishi_reading" GROUP BY "instrument"', DB)
    counts = {s["tags"]["instrument"]: s["values"][0][1] for s in tdq.series_of(result)}
    assert counts == sent
    assert min(sent.values()) > 90  # about 16 s at 10 heartbeats a second
    result = influx.query('SELECT "power_w" FROM "jishi_reading" GROUP BY "instrument"', DB)
    for series in tdq.series_of(result):
        values = [v[1] for v in series["values"]]
        assert values == [float(i) for i in range(len(values))]  # none missing, none extra


# --- late data: a replay fills time already mirrored as unknown ------------------------------


def test_replay_turns_mirrored_unknown_into_the_known_state(
    mosquitto: Mosquitto, influx: InfluxDB1, tmp_path: Path
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    clock = SimClock(base)
    config = collector_config(
        tmp_path,
        mosquitto.url,
        {"api": "v1", "url": influx.url, "database": DB, "self_report_interval_s": 0},
    )
    collector = start_collector(config, admin_token="t0k", clock=clock, sink_sweep_s=0.05)
    meta = sc.InstrumentMeta("lab", "rep-1", "chem", "general")
    agent = Agentish(mosquitto.port)

    def at(s: float) -> datetime:
        return base + timedelta(seconds=s)

    def send(s: float, kind: str, state: str, **extra: Any) -> None:
        agent.send(meta, kind, at(s), state=state, since=iso(at(s)), **extra)

    def unknown_points() -> list[int]:
        assert collector.sink is not None and collector.sink.flush(20)
        result = influx.query(
            'SELECT "code" FROM "jishi_state" WHERE "instrument" = \'rep-1\' AND "code" = 5',
            DB,
        )
        return [v[0] for s in tdq.series_of(result) for v in s["values"]]

    try:
        agent.send(meta, "status", at(0), online=True, heartbeat_interval_s=60, stale_after_s=60)
        for s in (0, 60, 120):
            clock.set(at(s))
            send(s, "hb", "running", interval_s=60)
        wait_stored(collector, agent.published)
        clock.set(at(300))  # silent since 120: the sweep mirrors unknown from 180
        deadline = time.monotonic() + 10
        while unknown_points() != [int(at(180).timestamp() * 1000)]:
            assert time.monotonic() < deadline, unknown_points()
            time.sleep(0.05)
        # The agent comes back and replays what it observed meanwhile, then goes on live.
        send(150, "hb", "running", interval_s=60, historical=True)
        send(210, "hb", "running", interval_s=60, historical=True)
        send(270, "state", "idle", historical=True)
        send(300, "hb", "idle", interval_s=60)
        wait_stored(collector, agent.published)
        deadline = time.monotonic() + 10
        while unknown_points():
            assert time.monotonic() < deadline, unknown_points()
            time.sleep(0.05)
        result = influx.query(
            'SELECT "state" FROM "jishi_state" WHERE "instrument" = \'rep-1\'', DB
        )
        (series,) = tdq.series_of(result)
        states = {(t - int(base.timestamp() * 1000)) // 1000: v for t, v in series["values"]}
    finally:
        agent.close()
        collector.stop()
    assert states[180] == "running"  # the unknown point, rewritten from the ledger
    assert states[270] == "idle"
    assert all(v == ("idle" if t >= 270 else "running") for t, v in states.items()), states
