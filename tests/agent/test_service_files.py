"""Where ``jishi agent install-service`` writes its files (issue 14: on Windows it ignored
``--unit-dir`` and wrote into the current folder).

There is no Windows service manager here: the Windows branch is run on Linux by passing
``platform="win32"``, and only the file it generates is checked (its content is parsed in
tests/agent/test_agent_service.py); WinSW installing and starting it is not tested.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

from jishi.agent.service import install_for_platform

from support.agentproc import sim_agent_toml


def _args(tmp_path: Path, unit_dir: Path | None) -> argparse.Namespace:
    config = tmp_path / "agent.toml"
    config.write_text(sim_agent_toml("mqtt://h:1883", instruments={"nmr-1": [("idle", 60.0)]}))
    return argparse.Namespace(
        config=str(config),
        data_dir=str(tmp_path / "data"),
        name="xrd-agent",
        user=None,
        unit_dir=None if unit_dir is None else str(unit_dir),
        no_enable=True,
    )


def test_windows_writes_its_xml_into_the_unit_dir(tmp_path: Path, elsewhere: Path) -> None:
    target = tmp_path / "winsw" / "new"  # created when missing
    assert install_for_platform(_args(tmp_path, target), "win32") == 0
    root = ET.fromstring((target / "xrd-agent.xml").read_text(encoding="utf-8"))
    assert root.findtext("id") == "xrd-agent"
    assert str(tmp_path / "agent.toml") in (root.findtext("arguments") or "")
    assert list(elsewhere.iterdir()) == []  # nothing left in the current folder


def test_windows_without_unit_dir_writes_into_the_current_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    assert install_for_platform(_args(tmp_path, None), "win32") == 0
    assert [p.name for p in elsewhere.iterdir()] == ["xrd-agent.xml"]


def test_linux_writes_its_unit_into_the_unit_dir(tmp_path: Path, elsewhere: Path) -> None:
    target = tmp_path / "units"
    assert install_for_platform(_args(tmp_path, target), "linux") == 0
    assert "Restart=always" in (target / "xrd-agent.service").read_text()
    assert list(elsewhere.iterdir()) == []
