"""Run the ``jishi`` command line as a child process, as a user, a script or a service
manager does: one-shot commands to completion, long-running ones started and stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def jishi_command(*args: str) -> list[str]:
    """The command line of ``jishi ARGS`` in this interpreter (the installed entry point)."""
    return [sys.executable, "-m", "jishi.cli", *args]


def run_jishi(
    *args: str,
    timeout: float = 60,
    check: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``jishi ARGS`` to completion (in ``cwd``, default ours), its output captured as text."""
    return subprocess.run(
        jishi_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
    )


def start_jishi(
    *args: str,
    output: Path | int | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``jishi ARGS`` in the background (in ``cwd``, default ours); ``output`` is a log file
    (appended to), a ``subprocess`` constant (DEVNULL, PIPE) or None to inherit; stderr goes
    with stdout."""
    target: IO[bytes] | int | None = output.open("ab") if isinstance(output, Path) else output
    return subprocess.Popen(
        jishi_command(*args),
        stdout=target,
        stderr=subprocess.STDOUT,
        env=None if env is None else {**os.environ, **env},
        start_new_session=new_session,
        cwd=cwd,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crash or the OOM killer ends a process: no cleanup runs."""
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM (what systemd sends), then SIGKILL if it does not end in ``timeout`` s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode
