"""Writes the Grafana dashboards in this folder (``python dashboards/generate.py``).

The JSON files are what Grafana loads and what the tests execute; this script keeps their
template variables, datasource reference, state colours and tag filters identical. Every query
is raw InfluxQL against the measurements of ``jishi.collector.sink.points`` so it runs on
InfluxDB 1.x, 2.x (DBRP mapping) and 3.x.
"""

# The InfluxQL strings here are built from constants for Grafana, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE_UID = "jishi-influxdb"  # provisioning/datasources/jishi-influxdb.yaml
DS = {"type": "influxdb", "uid": "${ds}"}

# Codes of jishi.collector.sink.points.StateCode; unknown has its own colour on every timeline.
STATES = [
    ("0", "off", "#6E6E6E"),
    ("1", "idle", "#5794F2"),
    ("2", "running", "#73BF69"),
    ("3", "maintenance", "#FADE2A"),
    ("4", "fault", "#F2495C"),
    ("5", "unknown", "#B877D9"),
]
UNKNOWN = 5

BY_INSTRUMENT = 'GROUP BY "site", "unit", "instrument"'
TAGS = '"site" =~ /^$site$/ AND "unit" =~ /^$unit$/ AND "instrument" =~ /^$instrument$/'
# "Now" for current-state panels is the end of the dashboard range; the lookback bounds the scan.
UNTIL_TO = "time <= ${__to}ms AND time >= ${__to}ms - $lookback"
LAST_STATE = (
    'SELECT last("code") AS "code", last("online") AS "online" FROM "jishi_state" '
    f'WHERE {TAGS} AND {UNTIL_TO} GROUP BY "site", "instrument"'
)
# The state in force when the range starts (its point lies before the range), then every state
# point inside the range: a timeline needs both, or it starts blank.
TIMELINE = (
    'SELECT "code" FROM '
    f'(SELECT last("code") AS "code" FROM "jishi_state" WHERE {TAGS} AND time < ${{__from}}ms '
    'AND time >= ${__from}ms - $lookback GROUP BY "site", "instrument"), '
    f'(SELECT "code" FROM "jishi_state" WHERE {TAGS} AND $timeFilter) '
    'GROUP BY "site", "instrument"'
)
USAGE_TABLE = (
    'SELECT sum("effective_s") / 3600 AS "effective h", sum("quota_s") / 3600 AS "quota h", '
    'sum("effective_s") / sum("quota_s") AS "utilization", '
    'sum("external_service_s") / 3600 AS "external service h", '
    'sum("external_service_s") / sum("effective_s") AS "external share", '
    '1 - sum("unknown_s") / sum("period_s") AS "completeness" '
    f'FROM "jishi_usage_daily" WHERE {TAGS} AND $timeFilter GROUP BY {{group}}'
)


class Builder:
    """Lays panels out on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["datasource"] = DS
        panel.setdefault("maxDataPoints", 1000)
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(
    ref: str, query: str, fmt: str = "time_series", alias: str | None = None
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "refId": ref,
        "datasource": DS,
        "rawQuery": True,
        "query": query,
        "resultFormat": fmt,
    }
    if alias:
        t["alias"] = alias
    return t


def stat(title: str, query: str, description: str, color: str = "text") -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": [target("A", query)],
        "fieldConfig": {
            "defaults": {
                "noValue": "0",
                "color": {"mode": "fixed", "fixedColor": color},
                "unit": "none",
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value",
        },
    }


def state_timeline(title: str, description: str) -> dict[str, Any]:
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "targets": [target("A", TIMELINE, alias="$tag_site/$tag_instrument")],
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "transparent", "value": None}],
                },
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            code: {"text": name, "color": color, "index": i}
                            for i, (code, name, color) in enumerate(STATES)
                        },
                    }
                ],
                # Gaps stay gaps: nothing is carried across missing data.
                "custom": {
                    "fillOpacity": 85,
                    "lineWidth": 0,
                    "spanNulls": False,
                    "insertNulls": False,
                },
            },
            "overrides": [],
        },
        "options": {
            "mergeValues": True,
            "showValue": "never",
            "alignValue": "left",
            "rowHeight": 0.85,
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def timeseries(
    title: str, targets: list[dict[str, Any]], description: str, unit: str = "none"
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                # Heartbeats are 30 s apart by default, so buckets between them are null: join
                # points up to 90 s apart (the default stale_after of 75 s plus jitter) and leave
                # longer gaps open, so no line is drawn through unknown time.
                "custom": {
                    "spanNulls": 90_000,
                    "showPoints": "auto",
                    "lineWidth": 1,
                    "fillOpacity": 0,
                    "drawStyle": "line",
                },
            },
            "overrides": [],
        },
        "options": {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}},
    }


def table(
    title: str,
    targets: list[dict[str, Any]],
    description: str,
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "unit", "value": unit}],
        }
        for name, unit in (units or {}).items()
    ]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": overrides},
        # InfluxQL table results carry a Time column that means nothing for last()/sum().
        "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        "options": {"showHeader": True},
    }


def query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def templating() -> dict[str, Any]:
    return {
        "list": [
            {
                "type": "datasource",
                "name": "ds",
                "label": "InfluxDB",
                "query": "influxdb",
                "current": {"selected": True, "text": "jishi InfluxDB", "value": DATASOURCE_UID},
                "hide": 0,
            },
            query_var("site", "Site", 'SHOW TAG VALUES FROM "jishi_state" WITH KEY = "site"'),
            query_var(
                "unit",
                "Unit",
                'SHOW TAG VALUES FROM "jishi_state" WITH KEY = "unit" WHERE "site" =~ /^$site$/',
            ),
            query_var(
                "instrument",
                "Instrument",
                'SHOW TAG VALUES FROM "jishi_state" WITH KEY = "instrument" '
                'WHERE "site" =~ /^$site$/ AND "unit" =~ /^$unit$/',
            ),
            {
                "type": "custom",
                "name": "lookback",
                "label": "State lookback",
                "description": "How far before the range to look for an instrument's last state.",
                "query": "30d,90d,365d",
                "current": {"selected": True, "text": "90d", "value": "90d"},
                "options": [
                    {"selected": v == "90d", "text": v, "value": v} for v in ("30d", "90d", "365d")
                ],
                "multi": False,
                "includeAll": False,
                "hide": 0,
            },
        ]
    }


def dashboard(
    uid: str, title: str, description: str, builder: Builder, time_from: str
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["jishi"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "refresh": "1m",
        "templating": templating(),
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["jishi"],
                "asDropdown": True,
                "title": "jishi",
                "includeVars": True,
            }
        ],
        "panels": builder.panels,
    }


def count_where(condition: str) -> str:
    return f'SELECT count("code") FROM ({LAST_STATE}) WHERE {condition}'


def fleet_overview() -> dict[str, Any]:
    b = Builder()
    for title, condition, color, text in [
        ("Online", '"online" = 1', "green", "agent connected (birth message, no will)"),
        ("Offline", '"online" = 0', "red", "agent's last will received or announced offline"),
        ("Running", '"code" = 2', "green", "current state running"),
        ("Idle", '"code" = 1', "blue", "current state idle"),
        ("Fault", '"code" = 4', "red", "current state fault"),
        ("Unknown", f'"code" = {UNKNOWN}', "purple", "no fresh data: stale or offline"),
    ]:
        description = f"Instruments {text} at the end of the range."
        b.add(stat(title, count_where(condition), description, color), 4, 4)
    b.add(
        table(
            "Instruments",
            [
                target(
                    "A",
                    'SELECT last("state") AS "state", last("since") AS "since", '
                    'last("last_seen") AS "last seen", last("online") AS "online" '
                    f'FROM "jishi_state" WHERE {TAGS} AND {UNTIL_TO} '
                    'GROUP BY "site", "unit", "category", "instrument"',
                    fmt="table",
                )
            ],
            "State, since when, and when data was last fresh, at the end of the range.",
            units={"since": "dateTimeAsIso", "last seen": "dateTimeAsIso"},
        ),
        24,
        10,
    )
    b.add(
        state_timeline(
            "State timeline",
            "Every instrument's state; unknown (purple) is time with no fresh data.",
        ),
        24,
        12,
    )
    return dashboard(
        "jishi-fleet",
        "jishi / Fleet overview",
        "Which instruments are online, running, idle, in fault or unknown.",
        b,
        "now-24h",
    )


def instrument_detail() -> dict[str, Any]:
    b = Builder()
    b.add(
        state_timeline(
            "State",
            "Unknown (purple) is time the collector had no fresh data; it is never painted over.",
        ),
        24,
        6,
    )
    readings_group = 'GROUP BY time($__interval), "site", "instrument" fill(null)'
    b.add(
        timeseries(
            "Power",
            [
                target(
                    "A",
                    f'SELECT mean("power_w") FROM "jishi_reading" WHERE {TAGS} AND $timeFilter '
                    + readings_group,
                    alias="$tag_instrument",
                )
            ],
            "Mean power per interval; gaps are gaps.",
            unit="watt",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "All numeric readings",
            [
                target(
                    "A",
                    f'SELECT mean(*) FROM "jishi_reading" WHERE {TAGS} AND $timeFilter '
                    + readings_group,
                    alias="$tag_instrument $col",
                )
            ],
            "Every numeric reading the agent sends, averaged per interval.",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Agent health",
            [
                target(
                    "A",
                    'SELECT max("outbox_depth") AS "outbox depth", max("dropped") AS "dropped", '
                    'max("read_errors") AS "read errors" '
                    f'FROM "jishi_agent_health" WHERE {TAGS} AND $timeFilter ' + readings_group,
                    alias="$tag_instrument $col",
                )
            ],
            "Outbox depth (messages waiting), messages dropped, read errors, from heartbeats.",
        ),
        12,
        8,
    )
    b.add(
        {
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
        },
        12,
        8,
    )
    return dashboard(
        "jishi-instrument",
        "jishi / Instrument detail",
        "One or a few instruments: state timeline with unknown time, readings, agent health.",
        b,
        "now-24h",
    )


def utilization() -> dict[str, Any]:
    b = Builder()
    totals = f'FROM "jishi_usage_daily" WHERE {TAGS} AND $timeFilter'
    for title, select, unit, text in [
        ("Effective hours", 'sum("effective_s") / 3600', "h", "有效工作机时 over whole days"),
        ("Utilization", 'sum("effective_s") / sum("quota_s")', "percentunit", "effective / quota"),
        (
            "External share",
            'sum("external_service_s") / sum("effective_s")',
            "percentunit",
            "对外服务机时 / effective (共享率)",
        ),
    ]:
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
    units = {
        "effective h": "h",
        "quota h": "h",
        "external service h": "h",
        "utilization": "percentunit",
        "external share": "percentunit",
        "completeness": "percentunit",
    }
    b.add(
        table(
            "By instrument",
            [target("A", USAGE_TABLE.format(group='"site", "unit", "instrument"'), fmt="table")],
            "Effective hours against the prorated quota, external service, and completeness.",
            units=units,
        ),
        24,
        9,
    )
    b.add(
        table(
            "By unit",
            [target("A", USAGE_TABLE.format(group='"unit"'), fmt="table")],
            "The same figures summed per management unit.",
            units=units,
        ),
        24,
        7,
    )
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
    b.add(panel, 24, 9)
    return dashboard(
        "jishi-utilization",
        "jishi / Utilization",
        "Effective machine-hours against quota, external service share, completeness.",
        b,
        "now-30d",
    )


def agent_health() -> dict[str, Any]:
    b = Builder()
    last_health = (
        'SELECT last("outbox_depth") AS "outbox_depth", '
        'last("oldest_unsent_s") AS "oldest_unsent_s" '
        f'FROM "jishi_agent_health" WHERE {TAGS} AND $timeFilter {BY_INSTRUMENT}'
    )
    max_dropped = (
        'SELECT max("dropped") AS "dropped" '
        f'FROM "jishi_agent_health" WHERE {TAGS} AND $timeFilter {BY_INSTRUMENT}'
    )
    silent = (
        'SELECT last("code") AS "code", last("last_seen") AS "last_seen", '
        'last("online") AS "online" '
        f'FROM "jishi_state" WHERE {TAGS} AND {UNTIL_TO} GROUP BY "site", "unit", "instrument"'
    )
    b.add(
        stat("Silent", count_where(f'"code" = {UNKNOWN}'), "Instruments unknown now.", "purple"),
        6,
        4,
    )
    b.add(
        stat(
            "Buffering",
            f'SELECT count("outbox_depth") FROM ({last_health}) WHERE "outbox_depth" > 0',
            "Agents whose last heartbeat reported messages waiting in the outbox.",
            "orange",
        ),
        6,
        4,
    )
    b.add(
        stat(
            "Dropping",
            f'SELECT count("dropped") FROM ({max_dropped}) WHERE "dropped" > 0',
            "Agents that reported dropped messages in the range.",
            "red",
        ),
        6,
        4,
    )
    spool = stat(
        "Mirror backlog",
        'SELECT last("spool_depth") FROM "jishi_sink" WHERE $timeFilter',
        "Points the collector's InfluxDB sink still had to write at its last self-report.",
    )
    b.add(spool, 6, 4)
    b.add(
        table(
            "Silent instruments",
            [
                target(
                    "A",
                    f'SELECT "last_seen" AS "last seen", "online" FROM ({silent}) '
                    f'WHERE "code" = {UNKNOWN} GROUP BY "site", "unit", "instrument"',
                    fmt="table",
                )
            ],
            "Unknown now: no fresh data since 'last seen' (online 0: the agent's will arrived).",
            units={"last seen": "dateTimeAsIso"},
        ),
        8,
        8,
    )
    b.add(
        table(
            "Buffering agents",
            [
                target(
                    "A",
                    'SELECT "outbox_depth" AS "outbox depth", '
                    '"oldest_unsent_s" AS "oldest unsent" '
                    f'FROM ({last_health}) WHERE "outbox_depth" > 0 {BY_INSTRUMENT}',
                    fmt="table",
                )
            ],
            "Last heartbeat had messages waiting: the link to the broker is slow or down.",
            units={"oldest unsent": "s"},
        ),
        8,
        8,
    )
    b.add(
        table(
            "Dropping agents",
            [
                target(
                    "A",
                    f'SELECT "dropped" FROM ({max_dropped}) WHERE "dropped" > 0 '
                    'GROUP BY "site", "unit", "instrument"',
                    fmt="table",
                )
            ],
            "Agents whose outbox overflowed in the range: data was lost at the source.",
        ),
        8,
        8,
    )
    group = 'GROUP BY time($__interval), "site", "instrument" fill(null)'
    b.add(
        timeseries(
            "Outbox depth",
            [
                target(
                    "A",
                    'SELECT max("outbox_depth") FROM "jishi_agent_health" '
                    f"WHERE {TAGS} AND $timeFilter " + group,
                    alias="$tag_instrument",
                )
            ],
            "Messages waiting in each agent's outbox.",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Read errors per interval",
            [
                target(
                    "A",
                    'SELECT non_negative_difference(max("read_errors")) FROM "jishi_agent_health" '
                    f"WHERE {TAGS} AND $timeFilter " + group,
                    alias="$tag_instrument",
                )
            ],
            "New read errors reported by each agent's drivers.",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Clock offset",
            [
                target(
                    "A",
                    f'SELECT mean("clock_offset_s") FROM "jishi_agent_health" WHERE {TAGS} '
                    "AND $timeFilter " + group,
                    alias="$tag_instrument",
                )
            ],
            "Agent clock minus reference clock, where the agent knows it.",
            unit="s",
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Mirror backlog",
            [
                target(
                    "A",
                    'SELECT max("spool_depth") FROM "jishi_sink" WHERE $timeFilter '
                    'GROUP BY time($__interval), "collector" fill(null)',
                    alias="$tag_collector",
                )
            ],
            "Points waiting in each collector's InfluxDB spool (written late after an outage).",
        ),
        12,
        8,
    )
    return dashboard(
        "jishi-agents",
        "jishi / Agent fleet health",
        "Who is silent, who is buffering, who drops.",
        b,
        "now-24h",
    )


DASHBOARDS = {
    "fleet-overview.json": fleet_overview,
    "instrument-detail.json": instrument_detail,
    "utilization.json": utilization,
    "agent-fleet-health.json": agent_health,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
