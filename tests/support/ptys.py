"""socat pty pairs for serial tests: two linked pseudo-terminals, closable and re-creatable."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from support.servers import require_binary
from support.waiting import poll_until


class PtyPair:
    """``device`` and ``host`` are symlinks to the two ends; ``stop()`` unplugs the cable."""

    def __init__(self, folder: Path) -> None:
        self.device = folder / "device-end"
        self.host = folder / "host-end"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PtyPair:
        socat = require_binary("socat")
        self.process = subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.host}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not poll_until(lambda: self.device.exists() and self.host.exists(), 5, 0.02):
            raise TimeoutError("socat did not create its ptys")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=5)
        self.process = None
