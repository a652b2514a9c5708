"""Agent footprint, install size and replay rate (issues 3 and 14).

1. A real agent process with three real sources polled every 1 s (heartbeats every 30 s)
   against a private Mosquitto for --seconds (default 60): an Eastron SDM120 meter served over
   Modbus TCP by a pymodbus server, a Mettler Toledo balance (MT-SICS) answering on a socat pty
   pair, and a vendor log folder that gets a line every few seconds. Peak resident memory and
   CPU of the agent process.
2. Install size: the Linux x86_64 offline bundle (scripts/bundle.py) installed into a fresh
   virtualenv with pip kept off the network; the size of what ``jishi[agent]`` put in
   site-packages (pip and setuptools, which come with every virtualenv, left out).
3. Replay: 20,000 messages already in the outbox (as after a long outage) are drained by a
   real agent process into the Mosquitto; rate = messages / time from first connect to empty.

Prints its figures and ends with ``RESULT rss_mb=... cpu_pct=... install_mb=... replay_msg_s=...``.
Targets: RSS <= 32 MB, CPU <= 1 % of one core, install <= 20 MB, replay >= 2,000 msg/s.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import serial

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from jishi.agent import wire
from jishi.agent.outbox import Outbox
from jishi.agent.outbox_stats import read_stats

from support.cli import jishi_command
from support.paths import MODBUS_SIM
from support.ptys import PtyPair
from support.servers import Mosquitto, free_port

REAL_SOURCES = """
site = "bench"
poll_interval_s = 1
heartbeat_interval_s = 30
[mqtt]
broker = "{broker}"

[[instruments]]
id = "icp-ms-1"
[instruments.source]
driver = "modbus"
profile = "sdm120"
host = "127.0.0.1"
port = {modbus_port}
device_id = 1
[[instruments.rules.threshold]]
reading = "power_w"
off_below = 20
running_above = 400

[[instruments]]
id = "balance-1"
[instruments.source]
driver = "serial"
profile = "mt-sics"
port = "{serial_port}"

[[instruments]]
id = "xrd-1"
[instruments.source]
driver = "logs"
path = "{log_dir}"
files = ["*.log"]
rules = [{{ pattern = 'measurement started', state = "running" }},
         {{ pattern = 'measurement finished', state = "idle" }}]
"""

REPLAY = """
site = "bench"
[mqtt]
broker = "{broker}"
[[instruments]]
id = "nmr-1"
[instruments.source]
driver = "simulated"
scenario = [["running", 3600]]
"""


def agent(config: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        jishi_command("agent", "run", "-c", str(config), "--data-dir", str(data_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def modbus_meter(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """A pymodbus server with an SDM120 at address 1 drawing 850 W (float32, high word first)."""
    high, low = struct.unpack(">HH", struct.pack(">f", 850.0))
    images = workdir / "images.json"
    images.write_text(json.dumps({"1": {"input": {"12": high, "13": low}}}))
    command = [sys.executable, str(MODBUS_SIM), "--images", str(images), "--devices", "1"]
    return subprocess.Popen(
        [*command, "--tcp", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def balance(device_end: Path, stop: threading.Event) -> None:
    """An MT-SICS balance: every ``SI`` gets a stable weight, anything else ``ES``."""
    port = serial.Serial(str(device_end), 9600, timeout=0.1)
    buffer = b""
    try:
        while not stop.is_set():
            buffer += port.read(64)
            while b"\r\n" in buffer:
                command, buffer = buffer.split(b"\r\n", 1)
                port.write(b"S S      12.3456 g\r\n" if command == b"SI" else b"ES\r\n")
    finally:
        port.close()


def vendor_log(log_dir: Path, stop: threading.Event) -> None:
    """A vendor program writing a line every 5 s, a run starting and finishing every minute."""
    log = log_dir / "instrument.log"
    step = 0
    while not stop.wait(5):
        text = {0: "measurement started", 6: "measurement finished"}.get(step % 12, "status ok")
        with log.open("a", encoding="utf-8") as out:
            out.write(f"{datetime.now().isoformat(timespec='seconds')} {text}\n")  # noqa: DTZ005 - a vendor log in local time
        step += 1


def sample(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """Peak RSS (MB) and CPU (% of one core) of ``proc`` over ``seconds``."""
    cpu_start = sum(proc.cpu_times()[:2])
    wall_start = time.monotonic()
    peak_rss = 0.0
    step = 0
    while time.monotonic() < wall_start + seconds:
        time.sleep(1)
        peak_rss = max(peak_rss, proc.memory_info().rss / 1024 / 1024)
        step += 1
        if step % 10 == 0:
            print(f"  {step:3d} s  rss {peak_rss:.1f} MB", flush=True)
    cpu = sum(proc.cpu_times()[:2]) - cpu_start
    return peak_rss, 100 * cpu / (time.monotonic() - wall_start)


def footprint(workdir: Path, broker: Mosquitto, seconds: float) -> tuple[float, float]:
    stop = threading.Event()
    modbus_port = free_port()
    meter = modbus_meter(workdir, modbus_port)
    pair = PtyPair(workdir).start()
    log_dir = workdir / "vendor-logs"
    log_dir.mkdir()
    helpers = [
        threading.Thread(target=balance, args=(pair.device, stop), daemon=True),
        threading.Thread(target=vendor_log, args=(log_dir, stop), daemon=True),
    ]
    for helper in helpers:
        helper.start()
    config = workdir / "agent.toml"
    config.write_text(
        REAL_SOURCES.format(
            broker=broker.url, modbus_port=modbus_port, serial_port=pair.host, log_dir=log_dir
        )
    )
    time.sleep(1)  # the pymodbus server's start
    process = agent(config, workdir / "footprint")
    try:
        time.sleep(5)  # start-up (imports, first connect) is not the steady state
        check_sources(workdir / "footprint")
        return sample(psutil.Process(process.pid), seconds)
    finally:
        process.terminate()
        process.wait(30)
        stop.set()
        for helper in helpers:
            helper.join(5)
        pair.stop()
        meter.terminate()
        meter.wait(10)


def check_sources(data_dir: Path) -> None:
    """Fail unless every source has read well: a footprint of failing reads proves nothing."""
    status = json.loads((data_dir / "status.json").read_text())
    for instrument in status["instruments"]:
        for name, source in instrument["sources"].items():
            if source["last_good_read"] is None:
                raise SystemExit(f"{instrument['id']}/{name} has not read: {source['last_error']}")
        print(f"  {instrument['id']}: {instrument['state']}", flush=True)


def install_size(workdir: Path) -> float:
    """MB that ``jishi[agent]`` installs, from the offline bundle into a fresh virtualenv."""
    out = workdir / "bundles"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bundle.py"), "--target", "linux-x86_64",
         "--python", python, "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (bundle,) = (p for p in out.iterdir() if p.is_dir())
    env_dir = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    site = next(env_dir.glob("lib/python*/site-packages"))
    before = {p.name for p in site.iterdir()}  # pip (and setuptools): every venv has them
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", "--no-index", "--find-links",
         str(bundle / "wheels"), "jishi[agent]"],
        check=True, env={"PIP_CONFIG_FILE": os.devnull, "PATH": os.defpath},
    )  # fmt: skip
    added = [p for p in site.iterdir() if p.name not in before]
    total = sum(f.stat().st_size for p in added for f in [p, *p.rglob("*")] if f.is_file())
    for name, size in sorted(
        ((p.name, sum(f.stat().st_size for f in [p, *p.rglob("*")] if f.is_file())) for p in added),
        key=lambda item: -item[1],
    )[:8]:
        print(f"  {size / 1e6:5.1f} MB  {name}")
    return total / 1e6


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
                instrument="nmr-1", site="bench", boot_id=boot, seq=seq, ts=now,
                state="running", since=now, readings={"power_w": 850.0},
            )
        )  # fmt: skip
        outbox.put(
            instrument="nmr-1", kind="hb", topic=topic, payload=payload, boot_id=boot, seq=seq
        )
    outbox.close()
    config = workdir / "replay.toml"
    config.write_text(REPLAY.format(broker=broker.url))
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
    print(f"load average before: {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir=workdir / "mosquitto").start()
        try:
            print(f"footprint: Modbus TCP meter, serial balance, log folder; {args.seconds:.0f} s")
            rss, cpu = footprint(workdir, broker, args.seconds)
            print(f"  peak RSS {rss:.1f} MB, CPU {cpu:.2f} % of one core")
            print("install size of jishi[agent] (offline bundle, fresh virtualenv)")
            install_mb = install_size(workdir)
            print(f"  {install_mb:.1f} MB")
            print(f"replay of {args.messages} messages")
            rate = replay(workdir, broker, args.messages)
            print(f"  {rate:.0f} msg/s")
        finally:
            broker.stop()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}")
    print(
        f"RESULT rss_mb={rss:.1f} cpu_pct={cpu:.2f} install_mb={install_mb:.1f} "
        f"replay_msg_s={rate:.0f}"
    )


if __name__ == "__main__":
    main()
