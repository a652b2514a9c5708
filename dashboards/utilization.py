"""Utilization dashboard: effective machine-hours against quota, external service share, and the
completeness that says how far each figure can be trusted."""

# The InfluxQL strings here are built from constants for Grafana, never from input.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from blocks import TAGS, Builder, dashboard, stat, table, target, timeseries

USAGE_TABLE = (
    'SELECT sum("effective_s") / 3600 AS "effective h", sum("quota_s") / 3600 AS "quota h", '
    'sum("effective_s") / sum("quota_s") AS "utilization", '
    'sum("external_service_s") / 3600 AS "external service h", '
    'sum("external_service_s") / sum("effective_s") AS "external share", '
    '1 - sum("unknown_s") / sum("period_s") AS "completeness" '
    f'FROM "jishi_usage_daily" WHERE {TAGS} AND $timeFilter GROUP BY {{group}}'
)
USAGE_UNITS = {
    "effective h": "h",
    "quota h": "h",
    "external service h": "h",
    "utilization": "percentunit",
    "external share": "percentunit",
    "completeness": "percentunit",
}
# Title, InfluxQL aggregate, unit, and what the figure is (in the regulation's own terms).
FIGURES = [
    ("Effective hours", 'sum("effective_s") / 3600', "h", "有效工作机时 over whole days"),
    ("Utilization", 'sum("effective_s") / sum("quota_s")', "percentunit", "effective / quota"),
    (
        "External share",
        'sum("external_service_s") / sum("effective_s")',
        "percentunit",
        "对外服务机时 / effective (共享率)",
    ),
]


def add_figures(b: Builder) -> None:
    """One row of headline figures, each followed by the completeness it rests on."""
    totals = f'FROM "jishi_usage_daily" WHERE {TAGS} AND $timeFilter'
    for title, select, unit, text in FIGURES:
        panel = stat(title, f'SELECT {select} AS "{title}" {totals}', f"{text}.")
        panel["fieldConfig"]["defaults"]["unit"] = unit
        b.add(panel, 5, 4)
        completeness = stat(
            "Completeness",
            f'SELECT 1 - sum("unknown_s") / sum("period_s") AS "completeness" {totals}',
            f"Share of the period observed, for {title.lower()}: below 100 % the figure is a "
            "lower bound.",
            color="purple",
        )
        completeness["fieldConfig"]["defaults"]["unit"] = "percentunit"
        b.add(completeness, 3, 4)


# Title, GROUP BY tags, description and height of each usage table.
TABLES = [
    (
        "By instrument",
        '"site", "unit", "instrument"',
        "Effective hours against the prorated quota, external service, and completeness.",
        9,
    ),
    ("By unit", '"unit"', "The same figures summed per management unit.", 7),
]


def add_tables(b: Builder) -> None:
    """The usage figures per instrument, then summed per management unit."""
    for title, group, description, height in TABLES:
        query = USAGE_TABLE.format(group=group)
        b.add(table(title, [target("A", query, fmt="table")], description, USAGE_UNITS), 24, height)


def daily_hours() -> dict[str, Any]:
    """Bars of effective hours per day, with each day's completeness as a line on the right."""
    panel = timeseries(
        "Effective hours per day, with completeness",
        [
            target(
                "A",
                'SELECT "effective_s" / 3600 AS "effective h" FROM "jishi_usage_daily" '
                f'WHERE {TAGS} AND $timeFilter GROUP BY "instrument"',
                alias="$tag_instrument effective h",
            ),
            target(
                "B",
                'SELECT "completeness" FROM "jishi_usage_daily" '
                f'WHERE {TAGS} AND $timeFilter GROUP BY "instrument"',
                alias="$tag_instrument completeness",
            ),
        ],
        "Bars: effective hours per site-local day; line (right axis): completeness of that day.",
        unit="h",
    )
    panel["fieldConfig"]["defaults"]["custom"].update({"drawStyle": "bars", "fillOpacity": 60})
    panel["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byRegexp", "options": ".*completeness"},
            "properties": [
                {"id": "unit", "value": "percentunit"},
                {"id": "custom.drawStyle", "value": "line"},
                {"id": "custom.axisPlacement", "value": "right"},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "purple"}},
                {"id": "min", "value": 0},
                {"id": "max", "value": 1},
            ],
        }
    ]
    return panel


def build() -> dict[str, Any]:
    """The utilization dashboard: headline figures, tables, effective hours per day."""
    b = Builder()
    add_figures(b)
    add_tables(b)
    b.add(daily_hours(), 24, 9)
    return dashboard(
        "jishi-utilization",
        "jishi / Utilization",
        "Effective machine-hours against quota, external service share, completeness.",
        b,
        "now-30d",
    )
