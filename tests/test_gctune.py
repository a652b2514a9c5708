"""Garbage-collector tuning: made once per process, at the entry points only.

Frozen objects are never collected, so a library call that froze would leak every collector
a program (or this test session) starts and stops. The tuning itself runs in a subprocess here:
it changes the interpreter it runs in."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from jishi.collector.config import CollectorConfig
from jishi.collector.service import start_collector

from support.servers import Mosquitto


def test_tuning_is_made_once_per_process() -> None:
    script = (
        "import gc\n"
        "from jishi.gctune import GEN0_THRESHOLD, tune_for_throughput\n"
        "tune_for_throughput()\n"
        "frozen = gc.get_freeze_count()\n"
        "garbage = [[] for _ in range(1000)]\n"
        "tune_for_throughput()\n"
        "assert gc.get_freeze_count() == frozen, 'a second call froze more'\n"
        "assert frozen > 0 and gc.get_threshold()[0] == GEN0_THRESHOLD\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.integration
def test_starting_a_collector_leaves_the_garbage_collector_alone(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    before = (gc.get_freeze_count(), gc.get_threshold())
    config = CollectorConfig.model_validate(
        {
            "data_dir": str(tmp_path / "collector"),
            "mqtt": {"broker": mosquitto.url},
            "ingest": {"workers": 0},
        }
    )
    start_collector(config, api=False).stop()
    assert (gc.get_freeze_count(), gc.get_threshold()) == before
