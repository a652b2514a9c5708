"""Agent fleet health dashboard: who is silent, who is buffering, who drops, and the collector's
own InfluxDB backlog."""

# The InfluxQL strings here are built from constants for Grafana, never from input.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

from blocks import (
    BY_INSTRUMENT,
    FROM_STATE_NOW,
    IS_UNKNOWN,
    TAGS,
    Builder,
    count_stat,
    dashboard,
    per_interval,
    stat,
    table,
    target,
    timeseries,
)

# Each agent's last heartbeat in the range: what is still waiting in its outbox.
LAST_HEALTH = (
    'SELECT last("outbox_depth") AS "outbox_depth", '
    'last("oldest_unsent_s") AS "oldest_unsent_s" '
    f'FROM "jishi_agent_health" WHERE {TAGS} AND $timeFilter {BY_INSTRUMENT}'
)
# "dropped" is a counter, so its maximum in the range is above 0 when any message was dropped.
MAX_DROPPED = (
    'SELECT max("dropped") AS "dropped" '
    f'FROM "jishi_agent_health" WHERE {TAGS} AND $timeFilter {BY_INSTRUMENT}'
)
# Each instrument's state at the end of the range, with when data was last fresh.
LAST_SEEN = (
    'SELECT last("code") AS "code", last("last_seen") AS "last_seen", '
    f'last("online") AS "online" {FROM_STATE_NOW} {BY_INSTRUMENT}'
)


def add_counts(b: Builder) -> None:
    """One row of counts: silent instruments, buffering and dropping agents, sink backlog."""
    b.add(count_stat("Silent", IS_UNKNOWN, "Instruments unknown now.", "purple"), 6, 4)
    b.add(
        stat(
            "Buffering",
            f'SELECT count("outbox_depth") FROM ({LAST_HEALTH}) WHERE "outbox_depth" > 0',
            "Agents whose last heartbeat reported messages waiting in the outbox.",
            "orange",
        ),
        6,
        4,
    )
    b.add(
        stat(
            "Dropping",
            f'SELECT count("dropped") FROM ({MAX_DROPPED}) WHERE "dropped" > 0',
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


# Title, query, what the list shows and column units of each list of instruments or agents.
LISTS = [
    (
        "Silent instruments",
        f'SELECT "last_seen" AS "last seen", "online" FROM ({LAST_SEEN}) '
        f"WHERE {IS_UNKNOWN} {BY_INSTRUMENT}",
        "Unknown now: no fresh data since 'last seen' (online 0: the agent's will arrived).",
        {"last seen": "dateTimeAsIso"},
    ),
    (
        "Buffering agents",
        'SELECT "outbox_depth" AS "outbox depth", "oldest_unsent_s" AS "oldest unsent" '
        f'FROM ({LAST_HEALTH}) WHERE "outbox_depth" > 0 {BY_INSTRUMENT}',
        "Last heartbeat had messages waiting: the link to the broker is slow or down.",
        {"oldest unsent": "s"},
    ),
    (
        "Dropping agents",
        f'SELECT "dropped" FROM ({MAX_DROPPED}) WHERE "dropped" > 0 {BY_INSTRUMENT}',
        "Agents whose outbox overflowed in the range: data was lost at the source.",
        None,
    ),
]


def add_lists(b: Builder) -> None:
    """One row of tables naming the silent instruments and the buffering and dropping agents."""
    for title, query, description, units in LISTS:
        b.add(table(title, [target("A", query, fmt="table")], description, units), 8, 8)


def per_agent(title: str, select: str, description: str, unit: str = "none") -> dict[str, Any]:
    """A time series of one heartbeat field, a line per agent."""
    return per_interval(title, "jishi_agent_health", select, description, unit=unit)


def add_trends(b: Builder) -> None:
    """Two rows of heartbeat fields over time, and the collector's spool over time."""
    b.add(
        per_agent(
            "Outbox depth", 'max("outbox_depth")', "Messages waiting in each agent's outbox."
        ),
        12,
        8,
    )
    b.add(
        per_agent(
            "Read errors per interval",
            'non_negative_difference(max("read_errors"))',
            "New read errors reported by each agent's drivers.",
        ),
        12,
        8,
    )
    b.add(
        per_agent(
            "Clock offset",
            'mean("clock_offset_s")',
            "Agent clock minus reference clock, where the agent knows it.",
            unit="s",
        ),
        12,
        8,
    )
    backlog = target(
        "A",
        'SELECT max("spool_depth") FROM "jishi_sink" WHERE $timeFilter '
        'GROUP BY time($__interval), "collector" fill(null)',
        alias="$tag_collector",
    )
    b.add(
        timeseries(
            "Mirror backlog",
            [backlog],
            "Points waiting in each collector's InfluxDB spool (written late after an outage).",
        ),
        12,
        8,
    )


def build() -> dict[str, Any]:
    """The agent fleet health dashboard: counts, lists, then trends."""
    b = Builder()
    add_counts(b)
    add_lists(b)
    add_trends(b)
    return dashboard(
        "jishi-agents",
        "jishi / Agent fleet health",
        "Who is silent, who is buffering, who drops.",
        b,
        "now-24h",
    )
