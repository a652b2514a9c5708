"""Handlers of ``jishi agent run`` and ``jishi agent status``."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from jishi.agent.outbox_stats import read_stats
from jishi.agent.paths import data_dir_in_use, default_data_dir, resolve_data_dir
from jishi.agent.runtime import OUTBOX_FILE, STATUS_FILE, Agent
from jishi.agent.sources import load_agent_config
from jishi.files import own_data_dir
from jishi.logs import setup_logging

if TYPE_CHECKING:
    from rich.table import Table


def run_agent(args: argparse.Namespace) -> int:
    config_path = Path(args.config)
    config, digest = load_agent_config(config_path)
    data_dir = resolve_data_dir(args.data_dir, config.data_dir, config_path)
    own_data_dir(data_dir)
    setup_logging(config.log_level, data_dir / "logs" / "agent.log")
    agent = Agent(
        config,
        config_hash=digest,
        data_dir=data_dir,
        broker=args.broker,
        config_dir=config_path.resolve().parent,
    ).start()  # a data dir held by another agent stops us here, before any signal handler

    log_file = data_dir / "logs" / "agent.log"

    def _stop(signum: int, frame: FrameType | None) -> None:
        agent.stop()
        _arm_shutdown_watchdog(log_file)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "SIGBREAK"):  # Windows service wrappers send Ctrl-Break
        signal.signal(signal.SIGBREAK, _stop)
    agent.run()
    return 0


# A clean stop takes a few seconds (queued messages, then online:false). If it ever takes
# longer, something is stuck: record every thread's stack in the log and exit anyway; all
# observations are already committed to the outbox, so nothing is lost.
SHUTDOWN_DEADLINE_S = 25.0


def _arm_shutdown_watchdog(log_file: Path) -> None:
    def force_exit() -> None:
        import faulthandler
        import logging
        import os

        logging.getLogger(__name__).error(
            "shutdown took longer than %.0f s; thread stacks follow, exiting anyway",
            SHUTDOWN_DEADLINE_S,
        )
        try:
            with log_file.open("a", encoding="utf-8") as out:
                faulthandler.dump_traceback(file=out, all_threads=True)
        finally:
            os._exit(3)

    timer = threading.Timer(SHUTDOWN_DEADLINE_S, force_exit)
    timer.daemon = True
    timer.start()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def status_report(data_dir: Path) -> dict[str, Any]:
    """Everything ``jishi agent status`` shows, from the data dir alone."""
    now = time.time()
    outbox_error = None
    try:
        stats = read_stats(data_dir / OUTBOX_FILE)
    except sqlite3.OperationalError as exc:
        # A full disk: even reading a WAL database needs room for its shared-memory index.
        stats, outbox_error = None, f"cannot read the outbox: {exc}"
    status: dict[str, Any] = {}
    status_path = data_dir / STATUS_FILE
    if status_path.exists():
        try:
            status = json.loads(status_path.read_text())
        except (OSError, json.JSONDecodeError):
            status = {}
    written = status.get("written")
    fresh = written is not None and now - written < 10 and not status.get("stopped")
    # A stale status file with the data dir's lock held: the agent runs but cannot write it.
    locked = False if fresh else bool(data_dir_in_use(data_dir))
    try:
        free: int | None = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    return {
        "data_dir": str(data_dir),
        "outbox": None
        if stats is None
        else {
            "depth": stats.depth,
            "bytes": stats.bytes,
            "by_kind": stats.depth_by_kind,
            "oldest_unsent_age_s": None
            if stats.oldest_created is None
            else now - stats.oldest_created,
            "dropped": stats.dropped,
        },
        "agent": status.get("agent"),
        "boot_id": status.get("boot_id"),
        "pid": status.get("pid"),
        "broker": status.get("broker"),
        "status_age_s": None if written is None else now - written,
        # The running agent rewrites its status file every 2 s.
        "running": fresh or locked,
        "status_stale_but_running": locked,
        "outbox_error": outbox_error or status.get("outbox_error"),
        "outbox_unwritable_since": status.get("outbox_unwritable_since"),
        "held_in_memory": status.get("held_in_memory", 0),
        "disk_free_bytes": free,
        "instruments": status.get("instruments", []),
    }


def show_status(args: argparse.Namespace) -> int:
    if args.data_dir:
        data_dir = Path(args.data_dir)
    elif args.config:
        config_path = Path(args.config)
        config, _ = load_agent_config(config_path)
        data_dir = resolve_data_dir(None, config.data_dir, config_path)
    else:
        data_dir = default_data_dir()
    if not data_dir.exists():
        print(
            f"error: no agent data dir at {data_dir}; give --data-dir or -c agent.toml",
            file=sys.stderr,
        )
        return 2
    report = status_report(data_dir)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    _print_status(report)
    return 0


def _print_status(report: dict[str, Any]) -> None:
    """The status report as a technician reads it: a summary and one row per source."""
    from rich.console import Console

    console = Console()
    outbox = report["outbox"]
    running = "running" if report["running"] else "not running (status file stale or missing)"
    if report["status_stale_but_running"]:
        running = "running, but its status file is stale (is the data dir's disk full?)"
    console.print(
        f"[bold]agent[/bold] {report['agent'] or '?'}  {running}  broker {report['broker'] or '?'}"
    )
    free = report["disk_free_bytes"]
    console.print(
        f"data dir {report['data_dir']}"
        + ("" if free is None else f"  ({free / 1e6:.1f} MB free on its disk)")
    )
    if report["outbox_unwritable_since"] is not None or report["held_in_memory"]:
        since = report["outbox_unwritable_since"]
        console.print(
            f"[bold red]outbox cannot be written[/bold red]"
            f"{'' if since is None else ' since ' + _age(time.time() - since)}: "
            f"{report['held_in_memory']} message(s) held in memory, lost if the agent is "
            f"killed before the disk has room ({report['outbox_error'] or 'no detail'})"
        )
    if outbox is None and report["outbox_error"]:
        console.print(f"outbox: {report['outbox_error']}")
    elif outbox is None:
        console.print("outbox: none yet")
    else:
        console.print(
            f"outbox: {outbox['depth']} unsent ({outbox['bytes']} bytes; "
            f"{', '.join(f'{k} {v}' for k, v in sorted(outbox['by_kind'].items())) or 'empty'}), "
            f"oldest {_age(outbox['oldest_unsent_age_s'])}, dropped heartbeats {outbox['dropped']}"
        )
    console.print(_source_table(report))


def _source_table(report: dict[str, Any]) -> Table:
    """One row per source of each instrument, the instrument's columns on its first row."""
    from rich.table import Table

    table = Table(
        "instrument",
        "state",
        "since",
        "connected",
        "last publish",
        "source",
        "last good read",
        "errors",
        "last error",
    )
    now = time.time()
    for inst in report["instruments"]:
        sources = inst.get("sources", {}) or {"-": {}}
        for index, (name, src) in enumerate(sources.items()):
            first = index == 0
            table.add_row(
                inst["id"] if first else "",
                (inst.get("state") or "-") if first else "",
                (inst.get("since") or "-") if first else "",
                ("yes" if inst.get("connected") else "no") if first else "",
                _age(None if inst.get("last_publish") is None else now - inst["last_publish"])
                if first
                else "",
                name,
                src.get("last_good_read") or "-",
                str(src.get("read_errors", 0)),
                src.get("last_error") or "",
            )
    return table
