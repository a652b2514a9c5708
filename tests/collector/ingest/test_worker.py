"""The ingest worker process: a collector whose worker dies stops with an error (crash-only,
so a service manager restarts it) instead of serving a ledger that no longer grows."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from support.collectorproc import CollectorProcess
from support.servers import Mosquitto
from support.waiting import poll_until

pytestmark = pytest.mark.integration


def test_collector_stops_when_its_worker_dies(tmp_path: Path, mosquitto: Mosquitto) -> None:
    collector = CollectorProcess(tmp_path / "collector", mosquitto.url).start()
    try:
        assert collector.process is not None
        parent = psutil.Process(collector.process.pid)
        workers: list[psutil.Process] = []

        def workers_started() -> bool:
            workers[:] = [
                p
                for p in parent.children()
                if "jishi.collector.ingest.worker" in " ".join(p.cmdline())
            ]
            return bool(workers)

        poll_until(workers_started, 20, 0.1)
        assert len(workers) == 1, parent.children()
        status, body = collector.get("/api/v1/health", token=None)
        assert status == 200
        assert body["checks"]["ingest_worker"] is True
        workers[0].send_signal(signal.SIGKILL)
        assert collector.process.wait(20) == 1
    finally:
        collector.stop()
    log = (tmp_path / "collector" / "stdout.log").read_text()
    assert "ingest worker ended unexpectedly" in log
    assert "collector stopped (restart it)" in log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_is_a_clean_stop(
    tmp_path: Path, mosquitto: Mosquitto, signum: signal.Signals
) -> None:
    """Ctrl-C in a terminal and systemd's `systemctl stop` (KillMode=control-group) signal the
    collector and its worker together; that is an orderly stop, not a worker crash."""
    collector = CollectorProcess(tmp_path / "collector", mosquitto.url, new_session=True).start()
    try:
        assert collector.process is not None
        parent = psutil.Process(collector.process.pid)
        poll_until(parent.children, 20, 0.1)
        assert parent.children(), "no ingest worker started"
        os.killpg(collector.process.pid, signum)
        assert collector.process.wait(20) == 0
    finally:
        collector.stop()
    log = (tmp_path / "collector" / "stdout.log").read_text()
    assert "ended unexpectedly" not in log
    assert "Traceback" not in log
