"""The Chinese dashboards (dashboards/zh/, issue 19): every title, panel name, description,
variable label, state name and table column is in Chinese, and nothing else differs from the
English dashboard: the same queries, layout and colours, so the query tests cover both."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.dashboard_checks import CONTEXTS, MIN_INTERVAL, series_of
from support.dashboard_scenario import Loaded
from support.grafana import all_panels, expand
from support.influx import TEST_DB as DB
from support.paths import DASHBOARDS

ENGLISH = sorted(DASHBOARDS.glob("*.json"))
CJK = re.compile("[\u4e00-\u9fff]")
# Where a Chinese dashboard may differ from its English one ("*": any list index or key).
TRANSLATED = [
    ("uid",),
    ("title",),
    ("description",),
    ("tags", "*"),
    ("links", "*", "tags", "*"),
    ("templating", "list", "*", "label"),
    ("templating", "list", "*", "description"),
    ("panels", "*", "title"),
    ("panels", "*", "description"),
    ("panels", "*", "fieldConfig", "defaults", "mappings", "*", "options", "*", "text"),
    ("panels", "*", "fieldConfig", "overrides", "*", "matcher", "options"),
    ("panels", "*", "fieldConfig", "overrides", "*"),  # the state column's names (added)
    ("panels", "*", "transformations", "*", "options", "renameByName"),
]


def _chinese_module() -> ModuleType:
    """dashboards/chinese.py, a script folder's module (as generate.py imports it)."""
    if str(DASHBOARDS) not in sys.path:
        sys.path.insert(0, str(DASHBOARDS))
    spec = importlib.util.spec_from_file_location("chinese", DASHBOARDS / "chinese.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chinese = _chinese_module()


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def pairs() -> list[tuple[Path, Path]]:
    return [(path, DASHBOARDS / "zh" / path.name) for path in ENGLISH]


def differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths at which two JSON values differ; a key or list item only one of them has is
    a difference at its own path."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [(*path, key) for key in a.keys() ^ b.keys()]
        return found + [
            d for key in a.keys() & b.keys() for d in differences(a[key], b[key], (*path, key))
        ]
    if isinstance(a, list) and isinstance(b, list):
        found = [(*path, str(i)) for i in range(min(len(a), len(b)), max(len(a), len(b)))]
        pairs = enumerate(zip(a, b, strict=False))
        return found + [d for i, (x, y) in pairs for d in differences(x, y, (*path, str(i)))]
    return [] if a == b else [path]


def allowed(path: tuple[str, ...]) -> bool:
    return any(
        len(pattern) == len(path)
        and all(p in ("*", part) for p, part in zip(pattern, path, strict=True))
        for pattern in TRANSLATED
    )


def test_there_is_a_chinese_dashboard_for_every_english_one() -> None:
    assert len(ENGLISH) == 4
    assert sorted(p.name for p in (DASHBOARDS / "zh").glob("*.json")) == [p.name for p in ENGLISH]


@pytest.mark.parametrize(("english", "chinese"), pairs(), ids=lambda p: p.stem)
def test_only_the_texts_differ_from_the_english_dashboard(english: Path, chinese: Path) -> None:
    found = differences(load(english), load(chinese))
    assert found, "nothing was translated"
    assert [path for path in found if not allowed(path)] == []


@pytest.mark.parametrize(("english", "chinese"), pairs(), ids=lambda p: p.stem)
def test_every_title_and_panel_name_is_in_chinese(english: Path, chinese: Path) -> None:
    zh = load(chinese)
    texts = [zh["title"], zh["description"]]
    texts += [v["label"] for v in zh["templating"]["list"] if v["type"] != "datasource"]
    texts += [v["description"] for v in zh["templating"]["list"] if "description" in v]
    for panel in all_panels(zh):
        texts += [panel["title"], panel["description"]]
        for mapping in panel["fieldConfig"]["defaults"].get("mappings", []):
            texts += [option["text"] for option in mapping["options"].values()]
    assert [text for text in texts if not CJK.search(text)] == []
    assert zh["uid"] == load(english)["uid"] + "-zh"
    assert zh["tags"] == ["jishi-zh"] and all(link["tags"] == ["jishi-zh"] for link in zh["links"])


def test_titles_are_unique_across_both_languages() -> None:
    dashboards = [load(p) for p in [*ENGLISH, *(DASHBOARDS / "zh").glob("*.json")]]
    assert len({d["uid"] for d in dashboards}) == len({d["title"] for d in dashboards}) == 8


def test_a_panel_without_a_translation_stops_the_generator() -> None:
    dashboard = load(ENGLISH[0])
    changed = copy.deepcopy(dashboard)
    changed["panels"][0]["title"] = "A panel nobody translated"
    with pytest.raises(chinese.MissingTranslationError, match="A panel nobody translated"):
        chinese.translate(changed)
    assert chinese.translate(dashboard) == load(DASHBOARDS / "zh" / ENGLISH[0].name)


@pytest.mark.integration  # the table queries run against a real InfluxDB
@pytest.mark.parametrize(("english", "chinese"), pairs(), ids=lambda p: p.stem)
def test_every_table_column_influxdb_returns_has_a_chinese_header(
    loaded_influx: Loaded, english: Path, chinese: Path
) -> None:
    tables = [p for p in all_panels(load(chinese)) if p["type"] == "table"]
    ctx = CONTEXTS[0]
    for panel in tables:
        (organize,) = [t for t in panel["transformations"] if t["id"] == "organize"]
        renames = organize["options"]["renameByName"]
        columns: set[str] = set()
        for target in panel["targets"]:
            query = expand(
                target["query"],
                ctx.variables,
                ctx.time_range,
                max_data_points=panel["maxDataPoints"],
                min_interval=MIN_INTERVAL,
            )
            for series in series_of(loaded_influx.influx.query(query, db=DB)):
                columns |= set(series["columns"]) | set(series.get("tags", {}))
        assert columns, f"{panel['title']}: the scenario gave the table no rows"
        assert sorted(columns - {"time"} - set(renames)) == [], panel["title"]
        assert all(CJK.search(renames[name]) for name in columns - {"time"})
