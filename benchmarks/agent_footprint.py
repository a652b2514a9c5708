"""Agent footprint and replay rate (issue 3).

1. A real agent process with 3 simulated instruments polling every 1 s (heartbeats every
   30 s) against a private Mosquitto for --seconds (default 60): resident memory and CPU.
2. Replay: 20,000 messages already in the outbox (as after a long outage) are drained by a
   real agent process into the Mosquitto; rate = messages / time from first connect to empty.

Prints its figures and ends with ``RESULT rss_mb=... cpu_pct=... replay_msg_s=...``.
Targets: RSS <= 40 MB, CPU <= 2 % of one core, replay >= 2,000 msg/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jishi.agent import wire
from jishi.agent.outbox import Outbox
from jishi.agent.outbox_stats import read_stats

from support.servers import Mosquitto

AGENT_TOML = """
site = "bench"
poll_interval_s = 1
heartbeat_interval_s = 30
[mqtt]
broker = "{broker}"
[outbox]
replay_window = {window}
{instruments}
"""

INSTRUMENT = """
[[instruments]]
id = "{id}"
[instruments.source]
driver = "simulated"
scenario = [["idle", 20], ["running", 40], ["off", 10]]
[[instruments.rules.threshold]]
reading = "power_w"
off_below = 5
running_above = 300
"""


def write_config(path: Path, broker: str, ids: list[str], window: int = 100) -> None:
    path.write_text(
        AGENT_TOML.format(
            broker=broker, window=window, instruments="".join(INSTRUMENT.format(id=i) for i in ids)
        )
    )


def agent(config: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jishi.cli",
            "agent",
            "run",
            "-c",
            str(config),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def footprint(workdir: Path, broker: Mosquitto, seconds: float) -> tuple[float, float]:
    config = workdir / "agent.toml"
    write_config(config, broker.url, ["nmr-1", "sem-1", "xrd-1"])
    process = agent(config, workdir / "footprint")
    proc = psutil.Process(process.pid)
    try:
        time.sleep(5)  # start-up (imports, first connect) is not the steady state
        cpu_start = sum(proc.cpu_times()[:2])
        wall_start = time.monotonic()
        peak_rss = 0.0
        deadline = wall_start + seconds
        step = 0
        while time.monotonic() < deadline:
            time.sleep(1)
            peak_rss = max(peak_rss, proc.memory_info().rss / 1024 / 1024)
            step += 1
            if step % 10 == 0:
                print(f"  {step:3d} s  rss {peak_rss:.1f} MB", flush=True)
        cpu = sum(proc.cpu_times()[:2]) - cpu_start
        cpu_pct = 100 * cpu / (time.monotonic() - wall_start)
    finally:
        process.terminate()
        process.wait(30)
    return peak_rss, cpu_pct


def replay(workdir: Path, broker: Mosquitto, count: int) -> float:
    data_dir = workdir / "replay"
    outbox = Outbox(data_dir / "outbox.sqlite")
    boot = "0" * 32  # an earlier boot: every message is replayed as historical
    now = datetime.now(UTC)
    topic = wire.build_topic("bench", "nmr-1", wire.MessageKind.HEARTBEAT)
    print(f"  filling the outbox with {count} heartbeats", flush=True)
    for seq in range(count):
        payload = wire.encode(
            wire.HeartbeatMessage(
                instrument="nmr-1",
                site="bench",
                boot_id=boot,
                seq=seq,
                ts=now,
                state="running",
                since=now,
                readings={"power_w": 850.0},
            )
        )
        outbox.put(
            instrument="nmr-1", kind="hb", topic=topic, payload=payload, boot_id=boot, seq=seq
        )
    outbox.close()
    config = workdir / "replay.toml"
    write_config(config, broker.url, ["nmr-1"])
    process = agent(config, data_dir)
    try:
        log = data_dir / "logs" / "agent.log"
        while not (log.exists() and "connected to" in log.read_text()):
            time.sleep(0.01)
        start = time.monotonic()
        while True:
            stats = read_stats(data_dir / "outbox.sqlite")
            if stats is not None and stats.depth <= 3:  # the live messages of the new boot
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - start
    finally:
        process.terminate()
        process.wait(30)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir=workdir / "mosquitto").start()
        try:
            print(f"footprint: 3 simulated instruments, 1 s polls, {args.seconds:.0f} s")
            rss, cpu = footprint(workdir, broker, args.seconds)
            print(f"  peak RSS {rss:.1f} MB, CPU {cpu:.2f} % of one core")
            print(f"replay of {args.messages} messages")
            rate = replay(workdir, broker, args.messages)
            print(f"  {rate:.0f} msg/s")
        finally:
            broker.stop()
    print(f"RESULT rss_mb={rss:.1f} cpu_pct={cpu:.2f} replay_msg_s={rate:.0f}")


if __name__ == "__main__":
    main()
