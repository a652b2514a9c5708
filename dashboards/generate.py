"""Writes the Grafana dashboards in this folder (``python dashboards/generate.py``).

The JSON files are what Grafana loads and what the tests execute. The building blocks every
dashboard shares (layout, panels, variables, InfluxQL fragments, state codes) are in
``blocks.py``; each dashboard is a module of its own, named after its JSON file. ``zh/`` holds
the same dashboards in Chinese, made from the English ones by ``chinese.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# dashboards/ is a folder of scripts, not a package (it is not installed), so the siblings are
# imported as top-level modules. Run as a script, Python already puts this folder first on
# sys.path; loaded by file path (tests/dashboards/test_dashboard_files.py) it does not, so we add
# it here, once, rather than make every caller know the layout.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# The sibling imports must follow the sys.path line above.
import agent_fleet_health  # noqa: E402
import chinese  # noqa: E402
import fleet_overview  # noqa: E402
import instrument_detail  # noqa: E402
import utilization  # noqa: E402

DASHBOARDS = {
    "fleet-overview.json": fleet_overview.build,
    "instrument-detail.json": instrument_detail.build,
    "utilization.json": utilization.build,
    "agent-fleet-health.json": agent_fleet_health.build,
}


def _json(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """File name (relative to this folder) -> JSON text of every dashboard: the English ones,
    then their Chinese versions under zh/ (chinese.py)."""
    english = {name: build() for name, build in DASHBOARDS.items()}
    return {name: _json(dashboard) for name, dashboard in english.items()} | {
        f"zh/{name}": _json(chinese.translate(dashboard)) for name, dashboard in english.items()
    }


def main() -> None:
    """Write every dashboard's JSON next to this script (the Chinese ones into zh/)."""
    for name, text in render().items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
