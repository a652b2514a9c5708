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
from typing import Any

from jishi.agent.outbox_stats import read_stats
from jishi.agent.paths import data_dir_in_use, default_data_dir, resolve_data_dir
from jishi.agent.runtime import OUTBOX_FILE, STATUS_FILE, Agent
from jishi.agent.sources import load_agent_config
from jishi.agent.status_text import status_lines
from jishi.files import own_data_dir
from jishi.i18n import _
from jishi.logs import setup_logging


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


def status_report(data_dir: Path) -> dict[str, Any]:
    """Everything ``jishi agent status`` shows, from the data dir alone."""
    now = time.time()
    outbox_error = None
    try:
        stats = read_stats(data_dir / OUTBOX_FILE)
    except sqlite3.OperationalError as exc:
        # A full disk: even reading a WAL database needs room for its shared-memory index.
        stats, outbox_error = None, _("cannot read the outbox: {error}").format(error=exc)
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
        config, _digest = load_agent_config(config_path)
        data_dir = resolve_data_dir(None, config.data_dir, config_path)
    else:
        data_dir = default_data_dir()
    if not data_dir.exists():
        print(
            _("error: no agent data dir at {dir}; give --data-dir or -c agent.toml").format(
                dir=data_dir
            ),
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
    print("\n".join(status_lines(report, time.time())))
