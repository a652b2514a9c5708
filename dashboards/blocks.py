"""Building blocks of the jishi dashboards: grid layout, panel and variable factories, the
shared InfluxQL fragments and the state codes.

Every dashboard module composes these, so the template variables, the datasource reference,
the state colours and the tag filters are written once and stay identical across dashboards.
Every query is raw InfluxQL against the measurements of ``jishi.collector.sink.points`` so it
runs on InfluxDB 1.x, 2.x (DBRP mapping) and 3.x.
"""

# The InfluxQL strings here are built from constants for Grafana, never from input.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from jishi.collector.sink.points import StateCode

DATASOURCE_UID = "jishi-influxdb"  # provisioning/datasources/jishi-influxdb.yaml
DS = {"type": "influxdb", "uid": "${ds}"}

# A colour per state of the sink's codes; unknown has its own on every timeline.
STATE_COLOURS = {
    StateCode.OFF: "#6E6E6E",
    StateCode.IDLE: "#5794F2",
    StateCode.RUNNING: "#73BF69",
    StateCode.MAINTENANCE: "#FADE2A",
    StateCode.FAULT: "#F2495C",
    StateCode.UNKNOWN: "#B877D9",
}
# (code, state, colour) in code order, as the timelines' value mappings list them.
STATES = [(str(int(code)), code.name.lower(), colour) for code, colour in STATE_COLOURS.items()]
UNKNOWN = 5
IS_UNKNOWN = f'"code" = {UNKNOWN}'

BY_INSTRUMENT = 'GROUP BY "site", "unit", "instrument"'
TAGS = '"site" =~ /^$site$/ AND "unit" =~ /^$unit$/ AND "instrument" =~ /^$instrument$/'
# "Now" for current-state panels is the end of the dashboard range; the lookback bounds the scan.
UNTIL_TO = "time <= ${__to}ms AND time >= ${__to}ms - $lookback"
# The selected instruments' state points that can say what their state is "now".
FROM_STATE_NOW = f'FROM "jishi_state" WHERE {TAGS} AND {UNTIL_TO}'
LAST_STATE = (
    'SELECT last("code") AS "code", last("online") AS "online" '
    f'{FROM_STATE_NOW} GROUP BY "site", "instrument"'
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
# Readings and heartbeats per Grafana interval; fill(null) leaves empty buckets empty, so a gap
# in the data stays a gap on the graph.
BY_INTERVAL = 'GROUP BY time($__interval), "site", "instrument" fill(null)'


class Builder:
    """Lays panels out on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        """Place the panel right of the last one, or on a new row if it does not fit."""
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
    """One raw InfluxQL query of a panel."""
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
    """A single number in a fixed colour; no data reads as 0."""
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
    """Every selected instrument's state over the range, one colour per state code."""
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
    """Lines over time that are not drawn across unknown time."""
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


def per_interval(
    title: str,
    measurement: str,
    select: str,
    description: str,
    *,
    unit: str = "none",
    alias: str = "$tag_instrument",
) -> dict[str, Any]:
    """A time series of ``select`` over ``measurement`` per Grafana interval, per instrument."""
    query = f'SELECT {select} FROM "{measurement}" WHERE {TAGS} AND $timeFilter {BY_INTERVAL}'
    return timeseries(title, [target("A", query, alias=alias)], description, unit)


def table(
    title: str,
    targets: list[dict[str, Any]],
    description: str,
    units: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A table without the Time column; ``units`` maps a column name to its unit."""
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
    """A multi-value tag variable whose "All" matches every value (``.*``)."""
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
    """The variables every dashboard shares: datasource, site, unit, instrument, lookback."""
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
    """A whole dashboard around the laid-out panels, with the shared variables and links."""
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


def count_stat(title: str, condition: str, description: str, color: str) -> dict[str, Any]:
    """A stat counting the instruments whose state at the end of the range meets ``condition``."""
    query = f'SELECT count("code") FROM ({LAST_STATE}) WHERE {condition}'
    return stat(title, query, description, color)
