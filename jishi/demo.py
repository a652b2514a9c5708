"""``jishi demo``: the embedded broker, the collector on SQLite, an agent with simulated
instruments and the API, in one process, with a live table of instrument states."""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from jishi.errors import JishiError
from jishi.logs import setup_logging

log = logging.getLogger(__name__)

# Instruments of a typical shared-instrument centre, each with its own rhythm (scenario
# seconds at --speed 1). Power levels come from the simulator; thresholds turn them back.
CATALOGUE: list[dict[str, Any]] = [
    {
        "id": "nmr-600",
        "name": "600 MHz NMR spectrometer",
        "unit": "chemistry-centre",
        "scenario": [["running", 90], ["idle", 30], ["running", 60], ["idle", 20], ["off", 20]],
    },
    {
        "id": "sem-01",
        "name": "Scanning electron microscope",
        "unit": "materials-lab",
        "scenario": [["idle", 40], ["running", 80], ["fault", 15], ["idle", 25]],
    },
    {
        "id": "seq-nextseq",
        "name": "NextSeq 550 sequencer",
        "unit": "genomics-core",
        "category": "specialised",
        "scenario": [["running", 150], ["idle", 30], ["maintenance", 30], ["off", 15]],
    },
    {
        "id": "xrd-02",
        "name": "X-ray diffractometer",
        "unit": "materials-lab",
        "scenario": [["off", 20], ["idle", 20], ["running", 45], ["idle", 15]],
    },
    {
        "id": "lcms-03",
        "name": "LC-MS/MS",
        "unit": "chemistry-centre",
        "scenario": [["running", 60], ["idle", 10], ["running", 60], ["idle", 40]],
    },
    {
        "id": "tem-200",
        "name": "200 kV transmission electron microscope",
        "unit": "materials-lab",
        "category": "specialised",
        "scenario": [["idle", 60], ["running", 120], ["off", 30]],
    },
    {
        "id": "confocal-1",
        "name": "Confocal microscope",
        "unit": "bio-imaging",
        "scenario": [["running", 50], ["idle", 50], ["off", 25]],
    },
    {
        "id": "icp-ms",
        "name": "ICP-MS",
        "unit": "chemistry-centre",
        "scenario": [["idle", 30], ["running", 30], ["fault", 10], ["off", 30]],
    },
]

STATE_STYLE = {
    "running": "bold green",
    "idle": "yellow",
    "off": "dim",
    "fault": "bold red",
    "maintenance": "magenta",
    "unknown": "bold white on red",
}


# Simulated sign-ins (issue 13): users of the centre and from outside, so the demo's service
# hours, external service hours and share rate are not zero.
DEMO_USERS: tuple[dict[str, str], ...] = (
    {"user": "zhang.wei", "org": "School of Chemistry", "user_type": "internal"},
    {"user": "li.na", "org": "Hengrui Pharma (external)", "user_type": "external"},
    {"user": "wang.fang", "org": "School of Materials", "user_type": "internal"},
    {"user": "chen.jie", "org": "Provincial CDC (external)", "user_type": "external"},
)
SESSION_SLOT_S = 45.0  # a sign-in of 40 s every 45 scenario seconds, alternating users


def demo_sessions(cycle_s: float, index: int) -> list[dict[str, Any]]:
    """Back-to-back sign-ins over one scenario cycle, internal and external in turn (instrument
    ``index`` starts at its own user, so the instruments' external slots differ)."""
    sessions = []
    start, slot = 0.0, 0
    while start < cycle_s - 5:
        user = DEMO_USERS[(index + slot) % len(DEMO_USERS)]
        sessions.append({**user, "start_s": start, "seconds": min(40.0, cycle_s - start)})
        start, slot = start + SESSION_SLOT_S, slot + 1
    return sessions


def demo_instruments(count: int, speed: float) -> list[dict[str, Any]]:
    """``count`` instrument configs (the catalogue repeats with numbered ids past 8)."""
    instruments = []
    for index in range(count):
        base = CATALOGUE[index % len(CATALOGUE)]
        suffix = "" if index < len(CATALOGUE) else f"-{index // len(CATALOGUE) + 1}"
        instruments.append(
            {
                "id": base["id"] + suffix,
                "name": base["name"],
                "unit": base["unit"],
                "category": base.get("category", "general"),
                "source": {
                    "driver": "simulated",
                    "scenario": base["scenario"],
                    "time_scale": speed,
                    "noise_w": 10,
                    "seed": index,
                    "sessions": demo_sessions(sum(s for _, s in base["scenario"]), index),
                },
                "rules": {
                    "threshold": [
                        {
                            "reading": "power_w",
                            "off_below": 5,
                            "running_above": 300,
                            "hysteresis": 10,
                        }
                    ],
                    # The simulator draws 60 W in fault and 40 W in maintenance; a real
                    # instrument would say so through a status word (docs/drivers.md).
                    "discrete": [
                        {"reading": "power_w", "states": {"60": "fault", "40": "maintenance"}}
                    ],
                },
            }
        )
    return instruments


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(args: argparse.Namespace) -> int:
    if args.instruments < 1:
        raise JishiError("--instruments must be at least 1")
    if args.speed <= 0:
        raise JishiError("--speed must be > 0")
    from jishi.embedded_broker import EmbeddedBroker

    demo_dir = Path(args.dir).resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    setup_logging("info" if args.no_table else "warning", demo_dir / "demo.log")
    token = args.token or secrets.token_urlsafe(16)
    mqtt_port = args.mqtt_port or _free_port()
    # The simulator's time runs --speed times faster; heartbeats follow so the demo stays
    # responsive, but never faster than one a second.
    heartbeat = max(1.0, 10.0 / args.speed)

    broker = EmbeddedBroker(mqtt_port).start()
    stack: list[Any] = [broker]
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    try:
        collector = _start_demo_collector(demo_dir, broker.url, args.port, token)
        stack.append(collector)
        agent, agent_thread = _start_demo_agent(demo_dir, broker.url, args, heartbeat)
        stack.append((agent, agent_thread))

        api = collector.api_url
        print(f"jishi demo: {args.instruments} simulated instrument(s) at {args.speed:g}x speed")
        print(f"  MQTT broker  mqtt://127.0.0.1:{mqtt_port} (embedded)")
        print(f"  console      {api}/   (sign in with the token below)")
        print(f"  API          {api}/api/v1/instruments   (OpenAPI: {api}/docs)")
        print(f"  token        {token}")
        print(f"  try          curl -H 'Authorization: Bearer {token}' {api}/api/v1/instruments")
        print(f"  files        {demo_dir}")
        print("Ctrl-C stops every part.", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        if args.no_table:
            while not stop.wait(0.5):
                if deadline is not None and time.monotonic() >= deadline:
                    break
        else:
            _live_table(collector, stop, deadline)
    finally:
        _stop_all(stack)
    print("jishi demo stopped.")
    return 0


def _start_demo_collector(demo_dir: Path, broker: str, port: int, token: str) -> Any:
    from jishi.collector.config import CollectorConfig
    from jishi.collector.service import start_collector

    config = CollectorConfig.model_validate(
        {
            "data_dir": str(demo_dir / "collector"),
            # amqtt keeps sessions (queued messages) only for clients with a username.
            "mqtt": {"broker": broker, "username": "jishi-demo-collector"},
            "api": {"host": "127.0.0.1", "port": port},
        }
    )
    return start_collector(config, admin_token=token)


def _start_demo_agent(
    demo_dir: Path, broker: str, args: argparse.Namespace, heartbeat: float
) -> tuple[Any, threading.Thread]:
    from jishi.agent.config import AgentConfig
    from jishi.agent.runtime import Agent
    from jishi.config import validate_table

    agent_config = validate_table(
        "demo",
        AgentConfig,
        {
            "site": "demo-lab",
            "agent_id": "demo-agent",
            "heartbeat_interval_s": heartbeat,
            "poll_interval_s": min(1.0, heartbeat),
            "mqtt": {"broker": broker, "username": "jishi-demo-agent"},
            "instruments": demo_instruments(args.instruments, args.speed),
        },
    )
    # Started here, so a data dir in use fails the demo now, not in the agent's thread.
    agent = Agent(agent_config, config_hash="demo", data_dir=demo_dir / "agent").start()
    thread = threading.Thread(target=agent.run, name="demo-agent", daemon=True)
    thread.start()
    return agent, thread


def _stop_all(stack: list[Any]) -> None:
    """Stop in reverse order of start: agent (sends online:false), collector, broker."""
    for part in reversed(stack):
        try:
            if isinstance(part, tuple):
                agent, thread = part
                agent.stop()
                thread.join(20)
            else:
                part.stop()
        except Exception:  # stopping one part must not leave the others running
            log.exception("stopping %r failed", part)


def _live_table(collector: Any, stop: threading.Event, deadline: float | None) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from jishi.collector.ledger.queries import list_instruments

    console = Console()

    def render() -> Table:
        with collector.engines.read.connect() as conn:
            rows = list_instruments(conn, time.time())
        table = Table(title="jishi demo — instrument states (Ctrl-C to stop)", expand=False)
        for column in ("instrument", "name", "unit", "state", "since", "online", "last seen"):
            table.add_column(column)
        for row in rows:
            state = row["state"]
            table.add_row(
                row["id"],
                row["name"],
                row["unit"] or "",
                f"[{STATE_STYLE.get(state, '')}]{state}[/]",
                (row["since"] or "")[11:19],
                "yes" if row["online"] else "no",
                (row["last_seen"] or "")[11:19],
            )
        if not rows:
            table.caption = "waiting for the first messages..."
        return table

    with Live(render(), console=console, refresh_per_second=2, transient=False) as live:
        while not stop.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                break
            live.update(render())
