"""Waiting for what a child process, a thread or a server does: poll a condition until a
deadline, instead of sleeping a fixed time and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """True as soon as ``condition()`` holds; False if it still does not after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """As ``poll_until``, failing the test with ``what`` when the time is up."""
    if not poll_until(condition, timeout, interval):
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
