"""The agent configs in docs/deployment.md are valid as written (a technician copies them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jishi.agent.sources import load_agent_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_doc_has_its_examples() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("block", BLOCKS, ids=["share", "gateway"])
def test_each_example_is_a_valid_agent_config(block: str, tmp_path: Path) -> None:
    config_file = tmp_path / "agent.toml"
    # Indented in a list item in the doc; TOML does not mind the indent, but keep it plain.
    body = "\n".join(line.removeprefix("  ") for line in block.splitlines())
    config_file.write_text(f'site = "lab"\n{body}', encoding="utf-8")
    config, _ = load_agent_config(config_file)
    (instrument,) = config.instruments
    source = instrument.all_sources()[0]
    assert source.driver in {"logs", "modbus"}
