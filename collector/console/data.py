"""What the pages show, read through the API's own functions (the same figures by construction).

Fleet states come from ``queries.list_instruments`` (``GET /api/v1/instruments``); every usage
figure from ``usage_grouped`` (``GET /api/v1/usage``), the fleet fast path; timelines from
``queries.timeline``; the warning lists and downloads from the report code (``jishi report``).
The only reads of its own are the evidence behind a timeline (the ledger's claims and wills)
and the filter choices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.fleet import GroupBy, usage_grouped
from jishi.collector.usage.engine import UsageFigures, sum_figures
from jishi.collector.usage.timeline import Interval

Check = Callable[[], None]
MAX_CLAIMS = 2000  # evidence rows read for one page; the rest is counted, not listed
MAX_LISTED = 300  # timeline stretches listed with their evidence under the strip


def epoch_of(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def midnight(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def choices(conn: Connection) -> tuple[list[str], list[str]]:
    """The management units and categories to filter by."""
    t = tables.instruments
    units = conn.execute(select(t.c.unit).distinct().where(t.c.unit.is_not(None))).scalars()
    kinds = conn.execute(select(t.c.category).distinct()).scalars()
    return sorted(str(u) for u in units), sorted(str(k) for k in kinds)


def fleet_now(
    conn: Connection,
    config: CollectorConfig,
    now: float,
    *,
    unit: str | None,
    category: str | None,
    check: Check,
) -> list[tuple[dict[str, Any], UsageFigures]]:
    """Every instrument's view (the API's) with its figures for today so far."""
    views = queries.list_instruments(conn, now, unit=unit)
    if category:
        views = [v for v in views if v["category"] == category]
    wanted = {v["id"] for v in views}
    rows = [r for r in queries.instrument_rows(conn, unit=unit) if r["id"] in wanted]
    zone = ZoneInfo(config.site.timezone)
    start = midnight(datetime.fromtimestamp(now, zone).date(), zone)
    sums = usage_grouped(
        conn, rows, config, start, max(now, start + 1), now, "instrument", check=check
    )
    return [(v, sums.get(v["id"], UsageFigures())) for v in views]


def window(day: str | None, span: str, zone: ZoneInfo, now: float) -> tuple[float, float, date]:
    """``[lo, hi)`` of the chosen day, or of the week (Monday first) holding it; default today.
    Raises ValueError for a date that cannot be read."""
    chosen = date.fromisoformat(day) if day else datetime.fromtimestamp(now, zone).date()
    if span == "week":
        first = chosen - timedelta(days=chosen.weekday())
        return midnight(first, zone), midnight(first + timedelta(days=7), zone), first
    return midnight(chosen, zone), midnight(chosen + timedelta(days=1), zone), chosen


@dataclass(frozen=True)
class Claim:
    """A run of same-state messages of one agent boot, as the ledger keeps it (the evidence)."""

    state: str
    start: float
    end: float
    boot_id: str
    seq_lo: int
    seq_hi: int
    ts_lo: float
    ts_hi: float
    observations: int
    closed: bool  # from a record (log, run file) rather than heartbeats
    historical: bool  # replayed from the agent's outbox after an outage


@dataclass(frozen=True)
class Will:
    """An offline message (Last Will or goodbye) and whether the agent later disproved it."""

    received_at: float
    boot_id: str
    withdrawn: bool


def evidence(
    conn: Connection, instrument: str, lo: float, hi: float
) -> tuple[list[Claim], list[Will]]:
    """The claims reaching into ``[lo, hi)`` (at most ``MAX_CLAIMS``) and the wills received in
    it."""
    c, w = tables.claims, tables.wills
    claims = conn.execute(
        select(c)
        .where(c.c.instrument_id == instrument, c.c.start < hi, c.c.end > lo)
        .order_by(c.c.start)
        .limit(MAX_CLAIMS)
    ).mappings()
    wills = conn.execute(
        select(w)
        .where(w.c.instrument_id == instrument, w.c.received_at >= lo, w.c.received_at < hi)
        .order_by(w.c.received_at)
    ).mappings()
    return (
        [
            Claim(
                r["state"],
                r["start"],
                r["end"],
                r["boot_id"],
                r["seq_lo"],
                r["seq_hi"],
                r["ts_lo"],
                r["ts_hi"],
                r["observations"],
                bool(r["closed"]),
                bool(r["historical"]),
            )
            for r in claims
        ],
        [Will(r["received_at"], r["boot_id"], bool(r["withdrawn"])) for r in wills],
    )


def behind(
    stretch: Interval, claims: Sequence[Claim], wills: Sequence[Will]
) -> tuple[list[Claim], list[Will]]:
    """The evidence of one stretch: claims of its state that overlap it; the wills received
    during it (or at its start) for an unknown stretch."""
    mine = [
        c
        for c in claims
        if c.state == stretch.state and c.start < stretch.end and c.end > stretch.start
    ]
    offline = [w for w in wills if stretch.start - 1 <= w.received_at < stretch.end]
    return mine, offline if stretch.state == "unknown" else []


def daily(
    conn: Connection, row: Mapping[str, Any], config: CollectorConfig, now: float, check: Check
) -> list[tuple[str, UsageFigures]]:
    """The last 30 local days (today so far included), a figure per day."""
    zone = ZoneInfo(config.site.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    days = [today - timedelta(days=n) for n in range(29, -1, -1)]
    start = midnight(days[0], zone)
    sums = usage_grouped(conn, [row], config, start, now, now, "day", check=check)
    return [(d.isoformat(), sums.get(d.isoformat(), UsageFigures())) for d in days]


@dataclass(frozen=True)
class UsageTables:
    by_unit: list[tuple[str, UsageFigures]]
    by_month: list[tuple[str, UsageFigures]]
    total: UsageFigures


def usage_tables(  # noqa: PLR0917 - the period and the filter, as the API takes them
    conn: Connection,
    config: CollectorConfig,
    lo: float,
    hi: float,
    now: float,
    unit: str | None,
    check: Check,
) -> UsageTables:
    """The usage API's ``group_by=unit`` and ``group_by=month`` over the same instruments."""
    rows = queries.instrument_rows(conn, unit=unit)

    def grouped(by: GroupBy) -> list[tuple[str, UsageFigures]]:
        sums = usage_grouped(conn, rows, config, lo, hi, now, by, check=check)
        return [(key, sums[key]) for key in sorted(sums)]

    by_unit = grouped("unit")
    return UsageTables(by_unit, grouped("month"), sum_figures(f for _, f in by_unit))
