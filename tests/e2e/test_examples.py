"""The examples run as they are: examples/agent-sim.toml with examples/collector.toml.

Only the broker address is overridden (``--broker``), so the tests use a private Mosquitto
instead of the one on 1883 the examples name; the files are copied unchanged into a temporary
folder so their relative data dirs land there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.collectorproc import CollectorProcess
from support.paths import EXAMPLES
from support.servers import Mosquitto

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_sim_agent_and_collector_examples(tmp_path: Path, mosquitto: Mosquitto) -> None:
    (tmp_path / "etc").mkdir()
    for name in ("collector.toml", "agent-sim.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / "etc" / name)
    collector = CollectorProcess(
        tmp_path / "collector", mosquitto.url, config_file=tmp_path / "etc" / "collector.toml"
    ).start()
    agent = AgentProcess(
        tmp_path / "etc" / "agent-sim.toml", tmp_path / "agent", broker=mosquitto.url
    ).start()
    try:
        rows = collector.wait_for(
            "/api/v1/instruments",
            lambda rows: (
                {r["id"] for r in rows} == {"nmr-600", "sem-01", "seq-nextseq"}
                and all(r["state"] != "unknown" for r in rows)
            ),
            timeout=20,
        )
        by_id = {r["id"]: r for r in rows}
        # The registry in collector.toml supplies what agents do not know.
        assert by_id["seq-nextseq"]["unit"] == "genomics-core"
        assert by_id["nmr-600"]["inner_id"] == "2019-NMR-0001"
        assert all(r["site"] == "demo-lab" and r["online"] for r in rows)
    finally:
        agent.stop()
        collector.stop()
    assert (tmp_path / ".jishi-collector").is_dir()  # data_dir is relative to the config file
