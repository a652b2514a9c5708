"""``jishi demo`` as a user runs it: API up with every instrument and a state within 15 s,
and Ctrl-C (SIGINT) stops every part cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.cli import run_jishi, start_jishi
from support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STATES = {"off", "idle", "running", "fault", "maintenance"}


def _instruments(port: int, token: str) -> list[dict[str, object]] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/instruments", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return list(json.loads(response.read()))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_demo_serves_instruments_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = start_jishi(
        "demo", "--port", str(port), "--token", "t0k", "--instruments", "3",
        "--dir", str(tmp_path / "demo"), "--speed", "5",
        output=subprocess.PIPE,
    )  # fmt: skip
    try:
        started = time.monotonic()
        rows = None
        while time.monotonic() - started < 15:
            rows = _instruments(port, "t0k")
            if rows and len(rows) == 3 and all(r["state"] in STATES for r in rows):
                break
            time.sleep(0.3)
        assert rows is not None and len(rows) == 3, rows
        assert all(r["state"] in STATES and r["online"] for r in rows), rows
        assert _instruments(port, "wrong") is None  # 401 without the right token
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = out.decode()
    assert process.returncode == 0, text
    assert "token        t0k" in text
    assert "jishi demo stopped." in text
    assert "Traceback" not in text
    assert (tmp_path / "demo" / "collector").is_dir()


def test_demo_generates_a_token_when_none_given(tmp_path: Path) -> None:
    out = run_jishi(
        "demo", "--port", str(free_port()), "--instruments", "1", "--dir", str(tmp_path / "demo"),
        "--duration", "2", "--no-table",
        check=True,
    ).stdout  # fmt: skip
    token_line = next(line for line in out.splitlines() if line.strip().startswith("token"))
    assert len(token_line.split()[-1]) >= 16


def _usage(port: int, token: str) -> list[dict[str, float]]:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/usage?start={start}&end={end}",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return list(json.loads(response.read())["results"])
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return []


def test_demo_sign_ins_give_service_and_external_service_hours(tmp_path: Path) -> None:
    """Issue 13, "Done when": simulated sign-ins by internal and external users make the
    service figures non-zero for at least one of three instruments within 90 s."""
    port = free_port()
    process = start_jishi(
        "demo", "--port", str(port), "--token", "t0k", "--instruments", "3",
        "--dir", str(tmp_path / "demo"), "--no-table",
        output=subprocess.PIPE,
    )  # fmt: skip
    shown: list[dict[str, float]] = []
    rows: list[dict[str, float]] = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 90 and not shown:
            time.sleep(2)
            rows = _usage(port, "t0k")
            shown = [
                r
                for r in rows
                if all(float(r[k]) > 0 for k in ("service_s", "external_service_s", "share_rate"))
            ]
        assert shown, rows
        row = shown[0]
        assert (
            float(row["external_service_s"]) <= float(row["service_s"]) <= float(row["effective_s"])
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
