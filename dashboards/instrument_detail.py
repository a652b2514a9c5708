"""Instrument detail dashboard: state timeline with unknown time, readings, agent health, and
hours by state from the daily roll-ups, for one or a few instruments."""

# The InfluxQL strings here are built from constants for Grafana, never from input.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from blocks import TAGS, Builder, dashboard, per_interval, state_timeline, target

# Title, measurement, select, what the panel shows, unit and legend of each per-interval panel.
READINGS = [
    (
        "Power",
        "jishi_reading",
        'mean("power_w")',
        "Mean power per interval; gaps are gaps.",
        "watt",
        "$tag_instrument",
    ),
    (
        "All numeric readings",
        "jishi_reading",
        "mean(*)",
        "Every numeric reading the agent sends, averaged per interval.",
        "none",
        "$tag_instrument $col",
    ),
    (
        "Agent health",
        "jishi_agent_health",
        'max("outbox_depth") AS "outbox depth", max("dropped") AS "dropped", '
        'max("read_errors") AS "read errors"',
        "Outbox depth (messages waiting), messages dropped, read errors, from heartbeats.",
        "none",
        "$tag_instrument $col",
    ),
]


def add_readings(b: Builder) -> None:
    """Power, every numeric reading, and the agent's own health, per interval."""
    for title, measurement, select, description, unit, alias in READINGS:
        panel = per_interval(title, measurement, select, description, unit=unit, alias=alias)
        b.add(panel, 12, 8)


def hours_by_state() -> dict[str, Any]:
    """Hours in each state, unknown included, summed over the daily roll-ups in the range."""
    return {
        "type": "bargauge",
        "title": "Hours by state (daily roll-ups)",
        "description": "Whole site-local days inside the range; unknown hours are shown too.",
        "targets": [
            target(
                "A",
                'SELECT sum("running_s") / 3600 AS "running", sum("idle_s") / 3600 AS "idle", '
                'sum("off_s") / 3600 AS "off", sum("fault_s") / 3600 AS "fault", '
                'sum("maintenance_s") / 3600 AS "maintenance", '
                'sum("unknown_s") / 3600 AS "unknown" '
                f'FROM "jishi_usage_daily" WHERE {TAGS} AND $timeFilter GROUP BY "instrument"',
                alias="$tag_instrument $col",
            )
        ],
        "fieldConfig": {"defaults": {"unit": "h", "min": 0}, "overrides": []},
        "options": {
            "orientation": "horizontal",
            "displayMode": "basic",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def build() -> dict[str, Any]:
    """The instrument detail dashboard: state, readings, agent health, hours by state."""
    b = Builder()
    b.add(
        state_timeline(
            "State",
            "Unknown (purple) is time the collector had no fresh data; it is never painted over.",
        ),
        24,
        6,
    )
    add_readings(b)
    b.add(hours_by_state(), 12, 8)
    return dashboard(
        "jishi-instrument",
        "jishi / Instrument detail",
        "One or a few instruments: state timeline with unknown time, readings, agent health.",
        b,
        "now-24h",
    )
