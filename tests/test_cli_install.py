"""A command run on the wrong install, and a reader that closes the pipe (issue 14).

A missing optional library is made missing for real in a child ``jishi``: an import hook put
in front of the installed packages refuses it, as Python does when the package is absent
(``ModuleNotFoundError`` with its name). The closed pipe is a real OS pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import jishi_command

pytestmark = pytest.mark.integration

# ``python -c`` running ``jishi ARGS`` with the modules named in JISHI_TEST_MISSING absent.
WITHOUT = """
import importlib.abc, os, sys
missing = set(os.environ["JISHI_TEST_MISSING"].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from jishi.cli import main
sys.exit(main(sys.argv[1:]))
"""


def jishi_without(missing: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JISHI_TEST_MISSING": missing},
    )


def test_collector_command_without_urllib3_names_the_collector_extra(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[influx]\nurl = "http://127.0.0.1:1"\n')
    result = jishi_without("urllib3", "collector", "check", "-c", str(config), "--no-broker")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "'urllib3' is not installed" in result.stderr
    assert "pip install 'jishi[collector]'" in result.stderr


def test_collector_run_without_fastapi(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    result = jishi_without("fastapi", "collector", "run", "-c", str(config))
    assert result.returncode == 1, result.stderr
    assert "'fastapi' is not installed" in result.stderr
    assert "pip install 'jishi[collector]'" in result.stderr


def test_agent_check_without_pyserial_says_install_not_wiring(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'site = "lab"\n[[instruments]]\nid = "bal-1"\n[instruments.source]\n'
        f'driver = "serial"\nport = "{tmp_path / "ttyUSB0"}"\nprofile = "mt-sics"\n'
    )
    result = jishi_without("serial", "agent", "check", "-c", str(config), "--no-broker")
    assert result.returncode == 1
    assert "'serial' is not installed" in result.stdout
    assert "pip install 'jishi[agent]'" in result.stdout
    assert "a package it needs is not installed" in result.stdout
    assert "check wiring" not in result.stdout


def test_our_own_missing_module_keeps_its_traceback() -> None:
    # Not an extra's library: a broken install must not be dressed up as advice.
    result = jishi_without("jishi", "schema")
    assert result.returncode != 0 and "Traceback" in result.stderr


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``jishi ARGS`` writing into a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            jishi_command(*args), stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", ["schema", "status"])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, command: str) -> None:
    args = ["agent", "status", "--json", "--data-dir", str(tmp_path)]
    result = _into_closed_pipe(*(args if command == "status" else ["schema"]))
    assert result.stderr == b"", result.stderr.decode()
    assert result.returncode == 141


def test_json_piped_into_head(tmp_path: Path) -> None:
    """``jishi agent status --json | head -1``, the two processes joined by a pipe."""
    producer = subprocess.Popen(
        jishi_command("agent", "status", "--json", "--data-dir", str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run(
        ["head", "-1"], stdin=producer.stdout, capture_output=True, text=True, timeout=60
    )
    producer.stdout.close()  # only head reads it: its exit closes the pipe
    errors = producer.stderr.read().decode()
    producer.wait(60)
    assert head.stdout == "{\n"
    assert "BrokenPipeError" not in errors and "Traceback" not in errors


def test_the_missing_package_advice_follows_the_language(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    result = jishi_without("fastapi", "--lang", "zh", "collector", "run", "-c", str(config))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        "错误：没有安装 Python 模块 'fastapi'（它属于 collector 扩展）；请用以下命令安装："
        "pip install 'jishi[collector]'"
    )
