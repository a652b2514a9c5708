"""Fleet overview dashboard: which instruments are online, running, idle, in fault or unknown."""

from __future__ import annotations

from typing import Any

from blocks import (
    FROM_STATE_NOW,
    IS_UNKNOWN,
    Builder,
    count_stat,
    dashboard,
    state_timeline,
    table,
    target,
)

# Title, condition on the last state, colour, and what the count means.
COUNTS = [
    ("Online", '"online" = 1', "green", "agent connected (birth message, no will)"),
    ("Offline", '"online" = 0', "red", "agent's last will received or announced offline"),
    ("Running", '"code" = 2', "green", "current state running"),
    ("Idle", '"code" = 1', "blue", "current state idle"),
    ("Fault", '"code" = 4', "red", "current state fault"),
    ("Unknown", IS_UNKNOWN, "purple", "no fresh data: stale or offline"),
]


def add_counts(b: Builder) -> None:
    """One row of counts of instruments by their state at the end of the range."""
    for title, condition, color, text in COUNTS:
        description = f"Instruments {text} at the end of the range."
        b.add(count_stat(title, condition, description, color), 4, 4)


def instruments_table() -> dict[str, Any]:
    """Every instrument's state, since when, and when it was last seen."""
    return table(
        "Instruments",
        [
            target(
                "A",
                'SELECT last("state") AS "state", last("since") AS "since", '
                'last("last_seen") AS "last seen", last("online") AS "online" '
                f'{FROM_STATE_NOW} GROUP BY "site", "unit", "category", "instrument"',
                fmt="table",
            )
        ],
        "State, since when, and when data was last fresh, at the end of the range.",
        units={"since": "dateTimeAsIso", "last seen": "dateTimeAsIso"},
    )


def build() -> dict[str, Any]:
    """The fleet overview dashboard: counts, the instrument table, the state timeline."""
    b = Builder()
    add_counts(b)
    b.add(instruments_table(), 24, 10)
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
