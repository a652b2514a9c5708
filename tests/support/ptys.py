"""socat pty pairs for serial tests: two linked pseudo-terminals, closable and re-creatable."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from support.servers import require_binary


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
        deadline = time.monotonic() + 5
        while not (self.device.exists() and self.host.exists()):
            if time.monotonic() > deadline:
                raise TimeoutError("socat did not create its ptys")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=5)
        self.process = None
