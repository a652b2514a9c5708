"""Where the repository's files are, for tests that read docs, examples and dashboards."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = REPO / "examples"
DASHBOARDS = REPO / "dashboards"
# Scripts the tests run as child processes (a Modbus server whose registers a test rewrites).
MODBUS_SIM = Path(__file__).resolve().with_name("modbus_sim.py")
