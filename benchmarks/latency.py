"""State-change latency: from publishing a ``state`` message to seeing the new state in
``GET /api/v1/instruments/{id}``, while a private Mosquitto carries 2,000 msg/s of heartbeats.

The collector runs in this process (``start_collector``: MQTT ingest into a SQLite ledger and the
API on uvicorn). The background load comes from a separate publisher process (as agents are),
paced to ``--rate`` messages/s of QoS 1 heartbeats over ``--instruments`` instruments, after a
birth message for each. Each probe publishes one state change of a probe instrument (QoS 1) and
polls the API every ``--poll-ms`` until that state and its ``since`` are served.

    .venv/bin/python benchmarks/latency.py [--rate 2000] [--probes 200] [--instruments 10000]

Target: p99 < 1 s. Ends with ``RESULT p50_ms=... p99_ms=...``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jishi.collector.config import CollectorConfig
from jishi.collector.service import start_collector
from jishi.gctune import tune_for_throughput

from support.servers import Mosquitto

SITE = "bench"
TOKEN = "bench-admin"
PROBES = 10  # probe instruments, used in turn


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def envelope(name: str, boot: str, seq: int, ts: float, kind: str) -> dict[str, object]:
    return {
        "schema": 1,
        "kind": kind,
        "instrument": name,
        "site": SITE,
        "boot_id": boot,
        "seq": seq,
        "ts": iso(ts),
    }


def connect(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


# --- the load publisher (a child process) -------------------------------------------------


def run_load(port: int, instruments: int, rate: float, seconds: float) -> None:
    """Births, then heartbeats paced to ``rate`` msg/s until stdin closes (or ``seconds``);
    prints the rate reached at the end."""
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    client = connect(port, "bench-load")
    boot = f"load-{random.getrandbits(32):08x}"
    names = [f"load{i:05d}" for i in range(instruments)]
    seq = 0
    infos = []
    for name in names:
        body = envelope(name, boot, seq, time.time(), "status")
        body.update(online=True, heartbeat_interval_s=instruments / rate)
        infos.append(client.publish(f"jishi/v1/{SITE}/{name}/status", json.dumps(body), qos=1))
        seq += 1
    for info in infos:
        info.wait_for_publish(60)
    print("READY", flush=True)
    start = time.monotonic()
    sent = 0
    tick = 0.01
    window: list[mqtt.MQTTMessageInfo] = []
    while (now := time.monotonic()) - start < seconds and not stop.is_set():
        due = int((now - start) * rate)
        while sent < due:
            name = names[sent % instruments]
            body = envelope(name, boot, seq, time.time(), "hb")
            body.update(
                state="running" if sent % 3 else "idle",
                since=body["ts"],
                interval_s=instruments / rate,
                readings={"power_w": 1234.5},
            )
            window.append(client.publish(f"jishi/v1/{SITE}/{name}/hb", json.dumps(body), qos=1))
            sent += 1
            seq += 1
        if len(window) > 5000:  # bounded, so paho's packet ids never wrap
            for info in window:
                info.wait_for_publish(60)
            window = []
        time.sleep(tick)
    for info in window:
        info.wait_for_publish(60)
    elapsed = time.monotonic() - start
    print(f"LOAD sent={sent} rate={sent / elapsed:.0f}", flush=True)
    client.disconnect()
    client.loop_stop()


# --- the probes ---------------------------------------------------------------------------


class Prober:
    def __init__(self, port: int, api: httpx.Client, poll_s: float) -> None:
        self.client = connect(port, "bench-probe")
        self.api = api
        self.poll_s = poll_s
        self.boot = f"probe-{random.getrandbits(32):08x}"
        self.seq = 0
        self.states = dict.fromkeys(range(PROBES), "idle")
        for k in range(PROBES):
            body = envelope(self.name(k), self.boot, self.next_seq(), time.time(), "status")
            body.update(online=True, heartbeat_interval_s=30.0)
            self.publish(k, "status", body)

    @staticmethod
    def name(k: int) -> str:
        return f"probe{k:02d}"

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def publish(self, k: int, kind: str, body: dict[str, object]) -> None:
        topic = f"jishi/v1/{SITE}/{self.name(k)}/{kind}"
        self.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)

    def probe(self, k: int) -> float:
        """Seconds from publishing a state change to the API serving it."""
        state = "running" if self.states[k] == "idle" else "idle"
        self.states[k] = state
        ts = time.time()
        body = envelope(self.name(k), self.boot, self.next_seq(), ts, "state")
        body.update(state=state, since=iso(ts), reason="latency probe")
        payload = json.dumps(body)
        topic = f"jishi/v1/{SITE}/{self.name(k)}/state"
        start = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        want_since = datetime.fromisoformat(iso(ts))
        deadline = start + 30
        while time.perf_counter() < deadline:
            view = self.api.get(f"/api/v1/instruments/{self.name(k)}").json()
            since = view.get("since")
            if (
                view.get("state") == state
                and since
                and datetime.fromisoformat(since.replace("Z", "+00:00")) == want_since
            ):
                return time.perf_counter() - start
            time.sleep(self.poll_s)
        raise RuntimeError(f"{self.name(k)} did not show {state} within 30 s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    tune_for_throughput()  # as `jishi collector run` does at its start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between probes")
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument("--load-child", nargs=4, metavar=("PORT", "N", "RATE", "SECONDS"))
    args = parser.parse_args()
    if args.load_child:
        port, n, rate, seconds = args.load_child
        run_load(int(port), int(n), float(rate), float(seconds))
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(workdir=Path(tmp) / "broker").start()
        config = CollectorConfig.model_validate(
            {
                "data_dir": str(Path(tmp) / "collector"),
                "mqtt": {"broker": broker.url, "client_id": "bench-collector"},
                "api": {"port": 0},
            }
        )
        collector = start_collector(config, admin_token=TOKEN)
        load: subprocess.Popen[str] | None = None
        try:
            if not collector.source or not collector.source.subscribed.wait(10):
                raise RuntimeError("the collector did not subscribe")
            seconds = 10 + args.probes * (args.interval + 0.05) + 20
            load = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--load-child",
                    str(broker.port),
                    str(args.instruments),
                    str(args.rate),
                    str(seconds),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert load.stdout is not None
            if load.stdout.readline().strip() != "READY":
                raise RuntimeError("the load publisher did not start")
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=collector.api_url or "", headers=headers) as api:
                prober = Prober(broker.port, api, args.poll_ms / 1000)
                time.sleep(5)  # births and the first seconds of load settle
                stored0, t0 = collector.metrics.stored, time.monotonic()
                latencies = []
                for n in range(args.probes):
                    latencies.append(prober.probe(n % PROBES) * 1000)
                    time.sleep(args.interval * random.uniform(0.5, 1.5))
                ingest_rate = (collector.metrics.stored - stored0) / (time.monotonic() - t0)
                prober.close()
            out, _ = load.communicate(input="", timeout=60)  # closing stdin stops it
        finally:
            if load is not None and load.poll() is None:
                load.kill()
            collector.stop()
            broker.stop()
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(
        f"background: {args.rate:,.0f} msg/s asked of the publisher, collector stored "
        f"{ingest_rate:,.0f} msg/s during the probes {out.strip()}"
    )
    print(
        f"{len(latencies)} probes: p50 {p50:.1f} ms, p90 {percentile(latencies, 0.9):.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"RESULT p50_ms={p50:.1f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
