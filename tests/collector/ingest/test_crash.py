"""Collectors killed with SIGKILL under load: nothing lost, nothing counted twice.

Also two collectors on one shared subscription and one PostgreSQL ledger, one killed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.db import open_engines

from support import messages as h
from support.servers import Mosquitto, free_port
from support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
INSTRUMENTS = 20
BEATS = 400
CYCLE = ["idle"] * 7 + ["running"] * 12 + ["off"] * 5
T0 = float(int(time.time()) - 7200)


def scenario() -> tuple[list[tuple[str, bytes]], dict[str, list[bytes]]]:
    """Heartbeats interleaved across instruments (as many agents publish), and the truth: each
    instrument's messages, for the pure engine."""
    messages: list[tuple[str, bytes]] = []
    truth: dict[str, list[bytes]] = {}
    for i in range(INSTRUMENTS):
        name = f"inst{i:02d}"
        messages.append(h.birth(name, 0, T0, boot=f"boot-{name}", hb=1.0))
        truth[name] = []
    for beat in range(1, BEATS + 1):
        for i in range(INSTRUMENTS):
            name = f"inst{i:02d}"
            st = CYCLE[(beat + i) % len(CYCLE)]
            messages.append(h.hb(name, beat, T0 + beat, st, boot=f"boot-{name}"))
            truth[name].append(messages[-1][1])
    return messages, truth


def start(
    tmp: Path, name: str, broker: Mosquitto, db_url: str, group: str | None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp / f"{name}.toml"
    share = f'share_group = "{group}"\n' if group else ""
    conf.write_text(
        f'data_dir = "{tmp / name}"\n[mqtt]\nbroker = "{broker.url}"\nclient_id = "{name}"\n{share}'
        f'[database]\nurl = "{db_url}"\n[api]\nport = {port}\n'
    )
    env = {**os.environ, "JISHI_ADMIN_TOKEN": "crash-test-admin-token-0001"}
    log = (tmp / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "jishi.cli", "collector", "run", "-c", str(conf)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, port


def stored(port: int) -> int:
    try:
        text = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/metrics",
            headers={"Authorization": "Bearer crash-test-admin-token-0001"},
            timeout=2,
        ).text
    except httpx.HTTPError:
        return -1
    match = re.search(r"^jishi_ingest_stored_total (\S+)$", text, re.M)
    return int(float(match.group(1))) if match else -1


def check_ledger(db_url: str, truth: dict[str, list[bytes]]) -> None:
    engines = open_engines(db_url)
    total = INSTRUMENTS * (BEATS + 1)

    def complete() -> bool:
        with engines.read.connect() as conn:
            ranges = conn.execute(select(tables.boots.c.ranges)).scalars().all()
        return len(ranges) == INSTRUMENTS and all(r == f"0-{BEATS}" for r in ranges)

    try:
        wait_until(complete, 60, f"all {total} messages in the ledger")
        time.sleep(0.5)
        with engines.read.connect() as conn:
            observations = conn.execute(select(func.sum(tables.claims.c.observations))).scalar()
            assert observations == INSTRUMENTS * BEATS  # every heartbeat exactly once
            for name, payloads in truth.items():
                got = queries.timeline(conn, name, T0, T0 + BEATS + 10)
                want = h.expected_timeline(
                    [(p, T0 + BEATS) for p in payloads], name, 2.5, T0, T0 + BEATS + 10
                )
                assert got == want
    finally:
        engines.dispose()


def publish_in_background(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> threading.Thread:
    def run() -> None:
        publisher = h.Publisher(broker.port, client_id="load")
        publisher.publish_all(messages, window=500)
        publisher.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_sigkill_under_load_loses_nothing_and_counts_nothing_twice(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    messages, truth = scenario()
    process, port = start(tmp_path, "c1", mosquitto, db_url, None)
    try:
        wait_until(lambda: stored(port) >= 0, 30, "collector API")
        time.sleep(0.5)  # subscribed (the session persists from here on)
        publisher = publish_in_background(mosquitto, messages)
        wait_until(lambda: stored(port) > len(messages) // 4, 60, "a quarter stored")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        publisher.join(60)
        process, port = start(tmp_path, "c1", mosquitto, db_url, None)
        check_ledger(db_url, truth)
    finally:
        process.kill()
        process.wait(10)


def test_two_collectors_on_a_shared_subscription_one_killed(
    mosquitto: Mosquitto, tmp_path: Path, pg_url: str
) -> None:
    messages, truth = scenario()
    first, port1 = start(tmp_path, "c1", mosquitto, pg_url, "collectors")
    second, port2 = start(tmp_path, "c2", mosquitto, pg_url, "collectors")
    try:
        wait_until(lambda: stored(port1) >= 0 and stored(port2) >= 0, 30, "collector APIs")
        time.sleep(0.5)
        publisher = publish_in_background(mosquitto, messages)
        wait_until(lambda: stored(port2) > len(messages) // 8, 60, "load on the second")
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        publisher.join(60)
        assert stored(port1) > 0
        second, port2 = start(tmp_path, "c2", mosquitto, pg_url, "collectors")
        check_ledger(pg_url, truth)
    finally:
        for process in (first, second):
            process.kill()
            process.wait(10)
