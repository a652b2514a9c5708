"""The dashboard and provisioning files are valid and consistent: unique panel ids, one
datasource (the provisioned uid), no hard-coded instruments, InfluxQL only, unknown visible."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the dev environment

from jishi.collector.sink import STATE_CODES

from support.grafana import all_panels, dashboard_queries
from support.paths import DASHBOARDS

ROOT = DASHBOARDS
DASHBOARD_FILES = sorted(ROOT.glob("*.json"))
DATASOURCE_YAML = ROOT / "provisioning/datasources/jishi-influxdb.yaml"
DASHBOARD_YAML = ROOT / "provisioning/dashboards/jishi.yaml"
# Names the scenario and examples use; none may appear in a dashboard.
INSTRUMENT_NAMES = ["nmr-1", "xrd.2", "ms-3", "nmr", "xrd", "icp", "sem"]


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def provisioned_uid() -> str:
    config = yaml.safe_load(DATASOURCE_YAML.read_text())
    assert config["apiVersion"] == 1
    (datasource,) = config["datasources"]
    assert datasource["type"] == "influxdb"
    assert datasource["jsonData"]["version"] == "InfluxQL"
    return str(datasource["uid"])


def test_generated_files_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("dashboards_generate", ROOT / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered: dict[str, str] = module.render()
    # The English dashboards, and their Chinese versions in zh/ (issue 19).
    files = [*DASHBOARD_FILES, *sorted((ROOT / "zh").glob("*.json"))]
    assert sorted(rendered) == sorted(p.relative_to(ROOT).as_posix() for p in files)
    for name, text in rendered.items():
        assert (ROOT / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python dashboards/generate.py"
        )


def test_provisioning_files() -> None:
    assert provisioned_uid() == "jishi-influxdb"
    providers = yaml.safe_load(DASHBOARD_YAML.read_text())["providers"]
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"]


def test_dashboard_uids_and_titles_are_unique() -> None:
    dashboards = [load(p) for p in DASHBOARD_FILES]
    assert len({d["uid"] for d in dashboards}) == len(dashboards) == 4
    assert len({d["title"] for d in dashboards}) == 4


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_dashboard_is_valid(path: Path) -> None:
    dashboard = load(path)
    uid = provisioned_uid()
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time"):
        assert key in dashboard, key
    assert len(dashboard["uid"]) <= 40  # Grafana's uid limit

    panels = all_panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels:
        assert panel["title"]
        assert panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        assert grid["w"] > 0
        assert grid["h"] > 0

    # One datasource: the ${ds} variable, whose default is the provisioned uid.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["ds"]["type"] == "datasource"
    assert variables["ds"]["query"] == "influxdb"
    assert variables["ds"]["current"]["value"] == uid
    for name in ("site", "unit", "instrument"):
        var = variables[name]
        assert var["multi"]
        assert var["includeAll"]
        assert var["allValue"] == ".*"
        assert var["datasource"] == {"type": "influxdb", "uid": "${ds}"}
    refs = [panel["datasource"] for panel in panels]
    refs += [target["datasource"] for _, target in dashboard_queries(dashboard)]
    assert refs
    assert all(ref == {"type": "influxdb", "uid": "${ds}"} for ref in refs)

    # Raw InfluxQL everywhere, filtered by the template variables (unless about the sink).
    for panel, target in dashboard_queries(dashboard):
        assert target["rawQuery"] is True
        query = target["query"]
        assert query.lstrip().upper().startswith("SELECT"), query
        assert "|>" not in query  # no Flux
        if "jishi_sink" not in query:
            for name in ("site", "unit", "instrument"):
                assert f'"{name}" =~ /^${name}$/' in query, (panel["title"], name)
        assert "$timeFilter" in query or "${__to}" in query, panel["title"]

    text = path.read_text(encoding="utf-8").lower()
    for name in INSTRUMENT_NAMES:
        assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), name


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_state_timelines_show_unknown_and_never_fill(path: Path) -> None:
    timelines = [p for p in all_panels(load(path)) if p["type"] == "state-timeline"]
    if path.stem in {"fleet-overview", "instrument-detail"}:
        assert timelines
    for panel in timelines:
        defaults = panel["fieldConfig"]["defaults"]
        (mapping,) = defaults["mappings"]
        options = mapping["options"]
        assert {int(code): opt["text"] for code, opt in options.items()} == {
            code: name for name, code in STATE_CODES.items()
        }
        colours = [opt["color"] for opt in options.values()]
        assert len(set(colours)) == len(colours), "every state, unknown included, has its colour"
        assert defaults["custom"]["spanNulls"] is False
        assert defaults["custom"]["insertNulls"] is False
        for target in panel["targets"]:
            assert "fill(" not in target["query"], "no fill may carry a state across a gap"
