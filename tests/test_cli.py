"""The ``jishi`` command line: help, schema output, errors that say what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jishi.cli import build_parser, main
from jishi.cli_parts import LazyHandler, handlers

from support.cli import run_jishi


def test_help_lists_commands() -> None:
    result = run_jishi("--help")
    assert result.returncode == 0
    for command in ("demo", "agent", "collector", "schema"):
        assert command in result.stdout


def test_group_without_subcommand_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent"]) == 2
    out = capsys.readouterr().out
    assert "run" in out and "check" in out and "status" in out


def test_schema_stdout_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == {"status", "state", "hb", "session"}
    assert main(["schema", "-o", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "hb.schema.json",
        "session.schema.json",
        "state.schema.json",
        "status.schema.json",
    ]
    state = json.loads((tmp_path / "state.schema.json").read_text())
    assert "running" in json.dumps(state)


def test_config_error_exit_code_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('site = "lab"\n[[instruments]]\nid = "x"\n')
    result = run_jishi("agent", "run", "-c", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert str(bad) in result.stderr
    assert "instruments[0]" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_light_imports() -> None:
    """The agent must not pull FastAPI, SQLAlchemy or InfluxDB clients (DESIGN: extras)."""
    code = (
        "import sys; from jishi.cli import build_parser; build_parser();"
        "from jishi.agent.runtime import Agent; from jishi.agent.check import check_agent;"
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'influxdb_client', 'pymodbus', 'serial') if m in sys.modules];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_every_handler_resolves_to_a_function() -> None:
    """Handlers are "module:function" names imported on use: each must name a real function."""
    found = handlers(build_parser())
    targets = {handler.target for handler in found}
    assert len(found) >= 20
    assert "jishi.agent.commands:run_agent" in targets
    for handler in found:
        assert callable(handler.resolve()), handler


def test_a_handler_target_must_name_module_and_function() -> None:
    with pytest.raises(ValueError, match="module:function"):
        LazyHandler("jishi.agent.commands")
