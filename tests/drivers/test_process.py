"""Process driver against a real child process."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jishi.drivers.registry import create

from support.paths import DOCS

# Each test starts a real child program for the driver to find in the process table.
pytestmark = pytest.mark.integration


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


DOCS = DOCS / "drivers.md"


def _docs_process_example(marker: str) -> str:
    """The process example of docs/drivers.md, pointed at our marker process."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## `process`") :]
    block = section[section.index("```toml\n") + 8 :]
    block = block[: block.index("```")]
    assert 'driver = "process"' in block
    block = block.replace('names = ["TopSpin.exe", "java"]\n', "")
    block = block.replace("cmdline_pattern = 'topspin'", f"cmdline_pattern = '{marker}'")
    return 'site = "lab"\npoll_interval_s = 0.5\n[mqtt]\nbroker = "mqtt://127.0.0.1:1"\n' + block


@pytest.mark.alone  # a busy loop is "running" above a fifth of a core: no other test may crowd it
@pytest.mark.parametrize(
    ("program", "state"),
    [
        (None, "off"),
        ("import time\nwhile True: time.sleep(1)", "idle"),
        ("while True: pass", "running"),
    ],
    ids=["closed", "open and waiting", "busy"],
)
def test_the_docs_process_example_gives_off_idle_and_running(
    tmp_path: Path, program: str | None, state: str
) -> None:
    marker = f"jishi-docs-example-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "agent.toml"
    config.write_text(_docs_process_example(marker), encoding="utf-8")
    child = None
    if program is not None:
        child = subprocess.Popen([sys.executable, "-c", f"{program}  # {marker}"])
    try:
        result = subprocess.run(
            [sys.executable, "-m", "jishi.cli", "agent", "check", "-c", str(config),
             "--no-broker", "--reads", "3"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        if child is not None:
            child.kill()
            child.wait()
    assert f"  state: {state}  (" in result.stdout, result.stdout + result.stderr
