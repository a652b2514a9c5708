"""A full disk on the agent (issue 17, 5): it never crashes, holds what it observes in memory
while it cannot write, and writes and publishes it once space returns.

How the disk is made full: a real, small tmpfs mounted under the test's folder holds the agent's
data dir, and a ballast file fills it to the last byte. Why this and not ``RLIMIT_FSIZE``: the
file-size limit is per process and fixed for the life of the agent, so "space returns" would
need a restart, which is exactly what must not be the fix; and it limits every file's size, not
free space, so a growing outbox would hit it at a size the test cannot choose while the log and
status files still write. With the tmpfs, every write the agent does (outbox, WAL, shared-memory
index, log file, status file) meets ``ENOSPC`` exactly as on a full instrument PC, and deleting
the ballast gives space back while the same agent process runs. Mounting needs root (or
``CAP_SYS_ADMIN``): without it the tests are skipped, saying why.

The agent's stderr goes to a file outside the tmpfs (a service's journal): it is the one log
that can still be written, so it is where the transitions the agent decided are read from.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jishi.agent.outbox_stats import read_stats

from support.agentproc import TRANSITION_RE, Recorder, dedupe, sim_agent_toml
from support.cli import run_jishi, start_jishi, stop
from support.servers import Mosquitto
from support.waiting import poll_until, wait_until

pytestmark = pytest.mark.integration

DISK_SIZE = "1m"  # small enough to fill in a moment, large enough for a fresh outbox and log
# A change every 0.4 s: a dozen transitions during a few seconds of full disk.
SCENARIO = [("idle", 0.4), ("running", 0.4), ("off", 0.4)]


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_SIZE`` mounted at ``where`` for the test, unmounted afterwards."""
    where.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", f"jishi-{uuid.uuid4().hex[:6]}", where],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a ballast file until the file system refuses even one more byte."""
    ballast = disk / "ballast"
    with ballast.open("wb", buffering=0) as out:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    out.write(chunk)
    return ballast


def logged_transitions(stderr_log: Path, instrument: str) -> list[tuple[str, str]]:
    """(state, since) of every transition the agent logged on its stderr, in order."""
    text = stderr_log.read_text(encoding="utf-8", errors="replace")
    return [
        (m["state"], m["since"]) for m in TRANSITION_RE.finditer(text) if m["inst"] == instrument
    ]


def start_agent(config: Path, data_dir: Path, stderr_log: Path) -> subprocess.Popen[bytes]:
    return start_jishi(
        "agent", "run", "-c", str(config), "--data-dir", str(data_dir), output=stderr_log
    )


def write_config(tmp_path: Path, broker: Mosquitto) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(
        sim_agent_toml(
            broker.url,
            instruments={"nmr-1": SCENARIO},
            heartbeat_s=0.5,
            outbox="historical_after_s = 1.0",
        )
    )
    return config


def test_full_disk_with_broker_down_loses_no_state(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "mosquitto")  # not started: the broker is down
    config = write_config(tmp_path, broker)
    stderr_log = tmp_path / "agent-stderr.log"
    with small_disk(tmp_path / "disk") as disk:
        data_dir = disk / "agent"
        agent = start_agent(config, data_dir, stderr_log)
        recorder: Recorder | None = None
        try:
            wait_until(
                lambda: len(logged_transitions(stderr_log, "nmr-1")) >= 2, 20, "first states"
            )
            ballast = fill(disk)
            before = len(logged_transitions(stderr_log, "nmr-1"))
            time.sleep(6)
            assert agent.poll() is None, "the agent died on the full disk"
            during = len(logged_transitions(stderr_log, "nmr-1")) - before
            assert during >= 8, "the agent went on observing while the disk was full"
            text = stderr_log.read_text(errors="replace")
            assert "Traceback" not in text and "Logging error" not in text
            # Said once, not once per message.
            assert text.count("holding new messages in memory") == 1
            ballast.unlink()  # space returns, same process
            wait_until(
                lambda: "outbox writable again" in stderr_log.read_text(errors="replace"),
                20,
                "the agent to write its held messages",
            )
            broker.start()
            recorder = Recorder("127.0.0.1", broker.port).start()
            time.sleep(1.5)  # more transitions after the broker is back
            logged = len(logged_transitions(stderr_log, "nmr-1"))
            # Generous: under the whole suite on two cores the replay can take a minute.
            assert poll_until(
                lambda: len(dedupe(recorder.of_kind("state", "nmr-1"))) >= logged, 120
            )
            # A heartbeat from the full-disk spell says it held messages in memory.
            assert recorder.wait_for(
                lambda: any(
                    m["health"].get("held_in_memory", 0) > 0 for m in recorder.of_kind("hb")
                ),
                10,
            )
        finally:
            stop(agent)
            broker.stop()
            if recorder is not None:
                recorder.stop()
    assert agent.returncode == 0
    logged_states = logged_transitions(stderr_log, "nmr-1")
    received = dedupe(recorder.of_kind("state", "nmr-1"))
    received.sort(key=lambda m: m["seq"])  # one boot
    assert [m["state"] for m in received] == [s for s, _ in logged_states]
    assert any(m["historical"] for m in received), "states held through the outage are replays"
    assert "Traceback" not in stderr_log.read_text(errors="replace")


def test_start_on_a_full_disk_runs_from_memory(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "mosquitto")  # down throughout
    config = write_config(tmp_path, broker)
    stderr_log = tmp_path / "agent-stderr.log"
    with small_disk(tmp_path / "disk") as disk:
        data_dir = disk / "agent"
        first = start_agent(config, data_dir, stderr_log)
        try:
            wait_until(lambda: len(logged_transitions(stderr_log, "nmr-1")) >= 2, 20, "states")
        finally:
            assert stop(first) == 0
        outbox = data_dir / "outbox.sqlite"
        stored_before = state_rows(outbox)
        ballast = fill(disk)
        second = start_agent(config, data_dir, stderr_log)
        try:
            before = len(logged_transitions(stderr_log, "nmr-1"))
            time.sleep(6)
            assert second.poll() is None, "the agent did not stay up on a full disk"
            assert len(logged_transitions(stderr_log, "nmr-1")) - before >= 8
            text = stderr_log.read_text(errors="replace")
            assert "Traceback" not in text and "Logging error" not in text
            # The status file cannot be written, yet `jishi agent status` tells it runs.
            status = run_jishi("agent", "status", "--data-dir", str(data_dir), "--json")
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            assert report["running"] and report["status_stale_but_running"]
            ballast.unlink()
            # It retries by itself: the held states reach the outbox without a restart.
            wait_until(
                lambda: state_rows(outbox) >= stored_before + 8,
                20,
                "held states in the outbox",
            )
            assert second.poll() is None
        finally:
            stop(second)
    assert "Traceback" not in stderr_log.read_text(errors="replace")


def state_rows(outbox: Path) -> int:
    """State messages waiting in the outbox (the broker is down, so none leave)."""
    stats = read_stats(outbox)
    return 0 if stats is None else stats.depth_by_kind.get("state", 0)
