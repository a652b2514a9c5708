"""Where the agent keeps its outbox, offsets, status file and logs."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_data_dir() -> Path:
    """Platform default: ``%PROGRAMDATA%\\jishi\\agent`` on Windows, ``/var/lib/jishi-agent``
    for root on Linux, ``~/.local/share/jishi-agent`` otherwise."""
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "jishi" / "agent"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/jishi-agent")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jishi-agent"


def resolve_data_dir(cli: str | None, configured: Path | None, config_file: Path) -> Path:
    """``--data-dir`` wins, then ``data_dir`` in the config (relative to the config file's
    folder), then the platform default."""
    if cli:
        return Path(cli).expanduser().resolve()
    if configured is not None:
        path = configured.expanduser()
        return (path if path.is_absolute() else config_file.parent / path).resolve()
    return default_data_dir()
