"""Ingest throughput: heartbeats of 10,000 instruments drained from a local Mosquitto by the
collector (validated, deduped, stored in the SQLite ledger) and by a bare paho subscriber that
only counts. Both drain the same queued stream from a persistent session.

The machine is shared and noisy, so the two drains alternate over several rounds (each round on
a fresh broker, the order swapped every round) and the figures are medians; the ratio is the
median of each round's paired ratio. "Handled" means committed to the ledger (stored, duplicate
or dead-lettered), counted by the writer after the commit.

    .venv/bin/python benchmarks/ingest.py [--instruments 10000] [--beats 5] [--rounds 3]
                                          [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jishi.collector.config import CollectorConfig
from jishi.collector.service import start_collector
from jishi.gctune import tune_for_throughput

from support.servers import Mosquitto


def messages(instruments: int, beats: int, t0: float) -> list[tuple[str, bytes]]:
    out = []
    for beat in range(beats + 1):
        for i in range(instruments):
            name = f"inst{i:05d}"
            ts = datetime.fromtimestamp(t0 + beat * 30, UTC).isoformat()
            body = {
                "schema": 2,
                "instrument": name,
                "site": "bench",
                "boot_id": f"boot-{name}",
                "boot_at": datetime.fromtimestamp(t0 - 60, UTC).isoformat(),
                "seq": beat,
                "ts": ts,
            }
            if beat > 1:
                body["prev_seq"] = beat - 1  # the chain, as agents send it (schema 2)
            if beat == 0:
                body.update(kind="status", online=True, heartbeat_interval_s=30.0)
                out.append((f"jishi/v1/bench/{name}/status", json.dumps(body).encode()))
            else:
                state = "running" if (beat + i) % 3 else "idle"
                body.update(
                    kind="hb",
                    state=state,
                    since=ts,
                    interval_s=30.0,
                    readings={"power_w": 1234.5},
                    health={"outbox_depth": 0},
                )
                out.append((f"jishi/v1/bench/{name}/hb", json.dumps(body).encode()))
    return out


def publish(port: int, payloads: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    window = []
    for topic, payload in payloads:
        window.append(client.publish(topic, payload, qos=1))
        if len(window) >= 5000:
            for info in window:
                info.wait_for_publish(60)
            window = []
    for info in window:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def bare_drain(port: int, payloads: list[tuple[str, bytes]]) -> float:
    count = 0
    done = threading.Event()
    total = len(payloads)

    def on_message(*_args: object) -> None:
        nonlocal count
        count += 1
        if count >= total:
            done.set()

    def session() -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare", clean_session=False)
        client.on_message = on_message
        client.on_connect = lambda c, *_a: c.subscribe("jishi/v1/#", qos=1)
        return client

    client = session()
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    publish(port, payloads)
    client = session()
    start = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not done.wait(600):
        raise RuntimeError(f"bare subscriber got {count} of {total}")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return total / elapsed


def collector_drain(
    port: int, payloads: list[tuple[str, bytes]], workdir: Path, workers: int
) -> float:
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(workdir / "collector"),
            "mqtt": {"broker": f"mqtt://127.0.0.1:{port}", "client_id": "bench-collector"},
            "ingest": {"workers": workers},
        }
    )
    collector = start_collector(config, api=False)
    time.sleep(0.5)
    collector.stop()
    publish(port, payloads)
    start = time.perf_counter()
    collector = start_collector(config, api=False, rollup_interval_s=3600)
    total = len(payloads)
    try:
        while True:
            m = collector.metrics
            handled = m.stored + m.duplicates + sum(m.dead_letters.values())
            if handled >= total:
                break
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"collector handled {handled} of {total}")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        assert sum(collector.metrics.dead_letters.values()) == 0, collector.metrics.dead_letters
    finally:
        collector.stop()
    return total / elapsed


def one_round(
    payloads: list[tuple[str, bytes]], bare_first: bool, workers: int
) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(workdir=Path(tmp) / "broker")
        broker.start()
        try:
            if bare_first:
                bare = bare_drain(broker.port, payloads)
            ingest = collector_drain(broker.port, payloads, Path(tmp), workers)
            if not bare_first:
                bare = bare_drain(broker.port, payloads)
        finally:
            broker.stop()
    return ingest, bare


def main() -> None:
    tune_for_throughput()  # as `jishi collector run` does at its start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--beats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=1, help="[ingest] workers: 1 (default) or 0 (one process)"
    )
    args = parser.parse_args()
    payloads = messages(args.instruments, args.beats, time.time() - 3600)
    print(f"{len(payloads)} messages ({args.instruments} instruments)", flush=True)
    rounds = []
    for n in range(args.rounds):
        ingest, bare = one_round(payloads, bare_first=n % 2 == 0, workers=args.workers)
        rounds.append((ingest, bare))
        print(
            f"round {n + 1}: collector ingest (SQLite) {ingest:,.0f} msg/s, "
            f"bare paho drain {bare:,.0f} msg/s, ratio {ingest / bare:.2f}",
            flush=True,
        )
    ingest = statistics.median(i for i, _ in rounds)
    bare = statistics.median(b for _, b in rounds)
    ratio = statistics.median(i / b for i, b in rounds)
    print(f"RESULT ingest_msg_s={ingest:.0f} bare_msg_s={bare:.0f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
