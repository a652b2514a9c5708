"""Per-request work is bounded (issue 17, 4): an 11-year usage query over a large fleet ran for
minutes and kept computing after its client left. Usage and report requests now stop when
``api.max_request_s`` is spent (503 saying what to ask instead) or when the client disconnects,
and the event loop keeps answering meanwhile; a timeline holding too many spans is refused
(400) with an end that would be answered. Real collector, real HTTP server, real sockets."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from jishi.collector.api.instruments import MAX_TIMELINE_SPANS
from jishi.collector.ledger import tables
from jishi.collector.service import Collector, start_collector

from support.ledger import make_config
from support.waiting import wait_until

TOKEN = "bounded-requests-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Eleven years of observations with no roll-ups yet (no refresh has run), so every day is
# computed live: tens of ms of work per instrument on a test machine, checked between pieces.
LONG = {"start": "2016-01-01", "end": "2026-12-01"}
HISTORY = (1_451_577_600.0, 1_795_996_800.0)  # 2016-01-01 .. 2026-12-01, Asia/Shanghai


def fleet(tmp_path: Path, size: int, *, history: bool = True, **api: object) -> Collector:
    instruments = [{"id": f"inst-{k:03d}", "unit": f"unit-{k % 3}"} for k in range(size)]
    config = make_config(tmp_path, instruments=instruments, api={"port": 0, **api})
    collector = start_collector(config, admin_token=TOKEN, ingest=False)
    first, last = HISTORY
    runs = [
        {"instrument_id": f"inst-{k:03d}", "state": "running", "start": t, "end": t + 6 * 3600}
        for k in range(size if history else 0)
        for t in range(int(first), int(last), 3 * 86_400)
    ]
    if runs:
        with collector.engines.write.begin() as conn:
            conn.execute(insert(tables.spans), runs)
    return collector


def abandoned(collector: Collector, reason: str) -> int:
    text = httpx.get(f"{collector.api_url}/api/v1/metrics", headers=AUTH, timeout=30).text
    found = re.search(
        rf'^jishi_api_requests_abandoned_total{{reason="{reason}"}} (\d+)$', text, re.M
    )
    assert found, text
    return int(found.group(1))


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[Collector]:
    """A hundred instruments and a budget of 50 ms: an 11-year query needs several seconds."""
    collector = fleet(tmp_path, 100, max_request_s=0.05)
    yield collector
    collector.stop()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/usage", {**LONG, "group_by": "month"}),
        ("/api/v1/reports/figures", LONG),
        ("/api/v1/reports/low-utilization", LONG),
        ("/api/v1/reports/saturation", {**LONG, "format": "xlsx"}),
    ],
)
def test_a_request_over_its_budget_answers_503_saying_what_to_do(
    tight: Collector, path: str, params: dict[str, str]
) -> None:
    started = time.monotonic()
    response = httpx.get(f"{tight.api_url}{path}", params=params, headers=AUTH, timeout=60)
    took = time.monotonic() - started
    assert response.status_code == 503, response.text[:300]
    detail = response.json()["detail"]
    assert "time budget of 0.05 s (api.max_request_s)" in detail
    assert "shorter period" in detail
    assert "raise api.max_request_s" in detail
    assert abandoned(tight, "over_budget") == 1
    assert abandoned(tight, "client_left") == 0
    # Stopped after a piece or two of work (0.2 s on an idle machine), not after all hundred
    # instruments (over 6 s).
    assert took < 3.0, took


def test_a_request_within_its_budget_is_answered(tmp_path: Path) -> None:
    collector = fleet(tmp_path, 3)  # the default budget, 60 s
    try:
        response = httpx.get(
            f"{collector.api_url}/api/v1/usage", params=LONG, headers=AUTH, timeout=60
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["results"]) == 3
        assert abandoned(collector, "over_budget") == 0
    finally:
        collector.stop()


def request_then_leave(collector: Collector, path: str, stay_s: float) -> None:
    """Send a GET on a raw socket, check that nothing is answered within ``stay_s``, close."""
    port = int(str(collector.api_url).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        # Meanwhile the event loop answers others (the work runs in the thread pool): health
        # answers while the query is still computing (checked below).
        health = httpx.get(f"{collector.api_url}/api/v1/health", timeout=30)
        assert health.status_code == 200
        time.sleep(stay_s)
        sock.settimeout(0.01)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # still computing: the client leaves before its answer


def test_a_client_that_leaves_stops_the_work(tmp_path: Path) -> None:
    # 150 instruments: ~10 s of work, of which the client waits one second.
    collector = fleet(tmp_path, 150)
    try:
        query = "&".join(f"{k}={v}" for k, v in LONG.items())
        request_then_leave(collector, f"/api/v1/usage?{query}&group_by=unit", stay_s=1.0)
        left = time.monotonic()
        # Counted only once ``check`` has raised in the work's thread: the work has stopped.
        wait_until(lambda: abandoned(collector, "client_left") == 1, 5, "the work to stop")
        assert time.monotonic() - left < 3.0
        assert abandoned(collector, "over_budget") == 0
    finally:
        collector.stop()


def test_a_timeline_with_too_many_spans_is_refused_with_an_end_to_ask(tmp_path: Path) -> None:
    collector = fleet(tmp_path, 1, history=False)
    day0 = 1_700_000_000.0
    spans = [
        {
            "instrument_id": "inst-000",
            "state": ("running", "idle")[k % 2],
            "start": day0 + 60 * k,
            "end": day0 + 60 * (k + 1),
        }
        for k in range(MAX_TIMELINE_SPANS + 10)
    ]
    try:
        with collector.engines.write.begin() as conn:
            conn.execute(insert(tables.spans), spans)
        url = f"{collector.api_url}/api/v1/instruments/inst-000/timeline"
        params = {"start": "2023-11-01", "end": "2024-01-01"}
        refused = httpx.get(url, params=params, headers=AUTH, timeout=60)
        assert refused.status_code == 400, refused.text
        detail = refused.json()["detail"]
        assert f"more than {MAX_TIMELINE_SPANS} state spans" in detail
        end = re.search(r"end=(\S+),", detail)
        assert end, detail
        answered = httpx.get(url, params={**params, "end": end.group(1)}, headers=AUTH, timeout=60)
        assert answered.status_code == 200, answered.text
        states = [i for i in answered.json()["intervals"] if i["state"] != "unknown"]
        assert len(states) == MAX_TIMELINE_SPANS
    finally:
        collector.stop()
