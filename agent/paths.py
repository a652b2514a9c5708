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


class DataDirLock:
    """An exclusive lock on a data dir: two agents on one outbox would each replay the other's
    messages and fight over offsets. Held for the life of the process (the OS releases it if
    the process dies, so a kill -9 never leaves a stale lock)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "agent.lock"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a+")
        try:
            if sys.platform == "win32":
                import msvcrt

                self._file.seek(0)
                msvcrt.locking(self._file.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            from jishi.errors import JishiError

            raise JishiError(
                f"data dir {data_dir} is in use by {holder}; stop that agent or give this one "
                "its own --data-dir"
            ) from None
        # Who holds the lock, for the next one's error message; the lock itself is the flock,
        # so a full disk (the text cannot be written) must not stop the agent (issue 17, 5).
        try:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(f"agent pid {os.getpid()}")
            self._file.flush()
        except OSError:
            self._file.seek(0)
            self._file.truncate()

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()


def data_dir_in_use(data_dir: Path) -> bool | None:
    """Whether a running agent holds ``data_dir``'s lock (None where that cannot be told).
    ``jishi agent status`` asks, because a full disk keeps the status file stale while the
    agent runs on. Takes the lock for an instant, so it is asked only when the file is stale."""
    path = data_dir / "agent.lock"
    if sys.platform == "win32" or not path.exists():
        return None if sys.platform == "win32" else False
    import fcntl

    with path.open("rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False
