"""Per-instrument raw and adjusted usage figures for a reporting period (the reports' I/O core).

Raw figures come from exactly the path the usage API uses (daily roll-ups where clean, the
pure engine on the stored spans otherwise), so a report and ``GET /api/v1/usage`` for the same
period agree to the last digit. Adjusted figures run the same engine over the timeline with the
active adjustments laid over it (:mod:`jishi.collector.reports.adjust`); an instrument without
adjustments near the period has adjusted == raw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Connection, select

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries, tables
from jishi.collector.ledger.fleet import usage_grouped
from jishi.collector.ledger.live import policy_for
from jishi.collector.reports.adjust import Adjustment, overlay
from jishi.collector.reports.adjust_store import list_adjustments
from jishi.collector.reports.errors import NotFoundError
from jishi.collector.reports.period import ReportPeriod
from jishi.collector.reports.scope import ReportScope
from jishi.collector.usage.engine import Session, UsageFigures, sum_figures, usage_by_buckets
from jishi.collector.usage.periods import split_by_day
from jishi.collector.usage.policy import Policy
from jishi.collector.usage.timeline import Interval, build_timeline


def availability(figures: UsageFigures) -> float | None:
    """Share of the observed time the instrument was not out of service (fault, maintenance).

    ``1 - (fault_s + maintenance_s) / (period_s - unknown_s)``; ``None`` when nothing was
    observed. Off time counts as available (switched off, but usable on demand); unknown time
    is left out, and completeness says how much of the period that was.
    """
    observed = figures.period_s - figures.unknown_s
    if observed <= 0:
        return None
    return max(0.0, 1.0 - (figures.fault_s + figures.maintenance_s) / observed)


def figure_dict(figures: UsageFigures) -> dict[str, float | None]:
    """The usage API's figures (``as_dict``) plus availability."""
    out = figures.as_dict()
    value = availability(figures)
    out["availability"] = None if value is None else round(value, 6)
    return out


@dataclass(frozen=True)
class InstrumentFigures:
    """One instrument over the period: registry facts, raw and adjusted figures."""

    instrument: str
    name: str
    unit: str | None
    category: str
    inner_id: str | None
    quota_h_per_year: float
    raw: UsageFigures
    adjusted: UsageFigures
    adjustments: tuple[int, ...]  # active adjustments that touch the period


@dataclass(frozen=True)
class UnitFigures:
    """One management unit over the period: its instruments' raw and adjusted figures summed."""

    unit: str | None
    instruments: int
    raw: UsageFigures
    adjusted: UsageFigures


def select_instruments(
    conn: Connection,
    *,
    unit: str | None = None,
    instruments: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Instrument rows for the report; an unknown unit or instrument is a clear error."""
    if unit is not None:
        t = tables.instruments
        known = sorted({u for u in conn.execute(select(t.c.unit).distinct()).scalars() if u})
        if unit not in known:
            shown = ", ".join(known) if known else "none registered yet"
            raise NotFoundError(f"no management unit {unit!r}; known units: {shown}")
    rows = queries.instrument_rows(conn, ids=instruments, unit=unit)
    if instruments:
        missing = sorted(set(instruments) - {r["id"] for r in rows})
        if missing:
            raise NotFoundError(f"no instrument(s) {', '.join(missing)}")
    return rows


def kind_of(instrument: str, kinds: Mapping[str, Sequence[str]]) -> str | None:
    """The first kind (in config order) with a pattern matching the instrument id."""
    for kind, patterns in kinds.items():
        if any(fnmatchcase(instrument, p) for p in patterns):
            return kind
    return None


@dataclass(frozen=True)
class Inputs:
    """What the engine needs for one instrument around a period (with rule context)."""

    policy: Policy
    intervals: list[Interval]
    adjusted: list[Interval]
    sessions: list[Session]
    adjustments: list[Adjustment]


def load_inputs(
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    period: ReportPeriod,
    *,
    now: float,
    adjustments: Sequence[Adjustment],
) -> Inputs:
    """Timeline (raw and adjusted) and sessions over the period plus ``Policy.context_s``."""
    policy = policy_for(row, config)
    lo, hi = period.start - policy.context_s, period.end + policy.context_s
    spans = queries.coverage(conn, row["id"], lo, hi)
    sessions = queries.sessions_in(conn, [row["id"]], lo, hi, now)[row["id"]]
    intervals = build_timeline(spans, lo, hi)
    active = [a for a in adjustments if a.active and a.start < hi and a.end > lo]
    adjusted = overlay(intervals, active) if active else intervals
    return Inputs(policy, intervals, adjusted, sessions, active)


def compute_figures(
    conn: Connection,
    config: CollectorConfig,
    rows: Sequence[Mapping[str, Any]],
    scope: ReportScope,
) -> list[InstrumentFigures]:
    """Raw and adjusted figures of every instrument in ``rows`` over the scope's period."""
    period, now = scope.period, scope.now
    by_instrument = adjustments_by_instrument(conn, config, [r["id"] for r in rows], period)
    # The whole fleet at once (issue 18); the progress hook doubles as the abandon check.
    progress = scope.progress
    fleet = usage_grouped(
        conn,
        rows,
        config,
        period.start,
        period.end,
        now,
        "instrument",
        check=None if progress is None else lambda: progress(0),
    )
    out: list[InstrumentFigures] = []
    for row in rows:
        raw = fleet.get(str(row["id"]), UsageFigures())
        inputs = None
        adjusted = raw
        if by_instrument.get(row["id"]):
            inputs = load_inputs(
                conn, row, config, period, now=now, adjustments=by_instrument[row["id"]]
            )
        if inputs is not None and inputs.adjustments:
            days = split_by_day(period.start, period.end, inputs.policy.tz)
            adjusted = sum_figures(
                f
                for _, f in usage_by_buckets(inputs.adjusted, inputs.sessions, inputs.policy, days)
            )
        policy = policy_for(row, config)
        out.append(
            InstrumentFigures(
                instrument=row["id"],
                name=row["name"] or row["id"],
                unit=row["unit"],
                category=row["category"],
                inner_id=row["inner_id"],
                quota_h_per_year=policy.quota_h_per_year,
                raw=raw,
                adjusted=adjusted,
                adjustments=tuple(a.id for a in inputs.adjustments) if inputs else (),
            )
        )
        if scope.progress is not None:
            scope.progress(1)
    return out


def adjustments_by_instrument(
    conn: Connection, config: CollectorConfig, ids: Sequence[str], period: ReportPeriod
) -> dict[str, list[Adjustment]]:
    """Adjustments near the period (within the rules' context, at least a day)."""
    rules = config.policy
    margin = max(86_400.0, rules.merge_gap_s, rules.prep_window_s, rules.post_window_s)
    grouped: dict[str, list[Adjustment]] = defaultdict(list)
    if not ids:
        return grouped
    for adj in list_adjustments(conn, ids, period.start - margin, period.end + margin):
        grouped[adj.instrument].append(adj)
    return grouped


def period_trail(
    conn: Connection, rows: Sequence[Mapping[str, Any]], period: ReportPeriod
) -> list[Adjustment]:
    """The audit trail a report shows: adjustments of its instruments that touch the period."""
    if not rows:
        return []
    return list_adjustments(conn, [r["id"] for r in rows], period.start, period.end)


def by_unit(items: Sequence[InstrumentFigures]) -> list[UnitFigures]:
    """Sums per management unit (instruments without a unit under ``None``), sorted by name."""
    grouped: dict[str, list[InstrumentFigures]] = defaultdict(list)
    for item in items:
        grouped[item.unit or ""].append(item)
    return [
        UnitFigures(
            unit=name or None,
            instruments=len(members),
            raw=sum_figures(m.raw for m in members),
            adjusted=sum_figures(m.adjusted for m in members),
        )
        for name, members in sorted(grouped.items())
    ]
