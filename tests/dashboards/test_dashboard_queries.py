"""Every panel query and template-variable query of every dashboard, expanded as Grafana expands
it, run against a real InfluxDB 1.6 holding the scenario of support/dashboard_scenario.py; each
result is compared with what the scenario says it must be."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.dashboard_checks import (
    CONTEXTS,
    DASHBOARD_FILES,
    EXPECT,
    check_template_variables,
    live_ctx,
    load,
    ms,
    run_panel,
    series_of,
)
from support.dashboard_scenario import T0, Loaded
from support.grafana import dashboard_queries
from support.influx import TEST_DB as DB

pytestmark = pytest.mark.integration


def test_every_panel_has_an_expectation() -> None:
    titles = {
        (load(path)["uid"], panel["title"])
        for path in DASHBOARD_FILES
        for panel, _ in dashboard_queries(load(path))
    }
    titles.discard(("jishi-utilization", "Effective hours per day, with completeness"))
    assert titles == set(EXPECT)
    assert len(DASHBOARD_FILES) == 4


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_panel_queries_return_the_scenario(loaded_influx: Loaded, path: Path) -> None:
    dashboard = load(path)
    queries = dashboard_queries(dashboard)
    assert queries
    for ctx in [*CONTEXTS, live_ctx()]:
        for panel, target in queries:
            run_panel(loaded_influx, dashboard, panel, target, ctx)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.stem)
def test_template_variable_queries(loaded_influx: Loaded, path: Path) -> None:
    check_template_variables(loaded_influx, path)


def test_late_daily_rollup_overwrote_the_first(loaded_influx: Loaded) -> None:
    day = ms(-24 * 60)
    result = loaded_influx.influx.query(
        'SELECT "unknown_s", "effective_s" FROM "jishi_usage_daily" '  # noqa: S608 (test constants)
        f"WHERE \"instrument\" = 'nmr-1' AND time = {day}ms",
        db=DB,
    )
    (series,) = series_of(result)
    assert series["values"] == [[ms(-24 * 60), 6 * 3600.0, 3600.0]]
    assert T0.hour == 0
