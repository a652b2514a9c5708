"""Process driver against a real child process."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from jishi.drivers.registry import create


def test_sees_a_running_program_and_its_end() -> None:
    marker = "jishi-test-instrument-software"
    child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(30)  # {marker}"])
    driver = create("process", "sw", {"cmdline_pattern": marker})
    try:
        (reading,) = driver.poll(datetime.now(UTC))
        assert reading.values["process_running"] is True
        assert reading.values["process_count"] == 1
        assert str(child.pid) in (reading.raw or "")
    finally:
        child.kill()
        child.wait()
    (after,) = driver.poll(datetime.now(UTC))
    assert after.values["process_running"] is False
    assert after.values["process_count"] == 0
    driver.close()
