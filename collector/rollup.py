"""Usage figures for the API: live from spans, or from daily roll-ups for closed days.

Daily roll-ups (``daily_usage``) hold each closed local day's figures per instrument, computed
by the same pure engine over a timeline reaching ``Policy.context_s`` beyond the day, so summing
roll-ups equals computing the period at once. Late data touching a closed day marks it in
``dirty_days`` (the writer and session import do this); :func:`refresh_rollups` recomputes
dirty days and fills missing ones. A query uses a roll-up only when it is present and clean.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jishi.collector import queries, tables
from jishi.collector.config import CollectorConfig
from jishi.collector.db import Engines
from jishi.collector.periods import Bucket, split_by_day
from jishi.collector.policy import Policy, quota_h_for_category
from jishi.collector.timeline import build_timeline
from jishi.collector.usage import FIGURE_NAMES, UsageFigures, usage_by_buckets
from jishi.collector.writer import upsert
from sqlalchemy import Connection, and_, delete, func, select


def policy_for(row: Mapping[str, Any], config: CollectorConfig) -> Policy:
    category = row["category"] if row["category"] in ("general", "specialised") else "general"
    return Policy(
        merge_gap_s=config.policy.merge_gap_s,
        prep_window_s=config.policy.prep_window_s,
        post_window_s=config.policy.post_window_s,
        quota_h_per_year=row["quota_h"] or quota_h_for_category(category),
        timezone=config.site.timezone,
    )


def live_buckets(
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    buckets: Sequence[Bucket],
    now: float,
) -> list[UsageFigures]:
    """Figures per bucket computed from the spans and sessions (no roll-ups)."""
    if not buckets:
        return []
    policy = policy_for(row, config)
    lo = buckets[0].start - policy.context_s
    hi = buckets[-1].end + policy.context_s
    spans = queries.coverage(conn, row["id"], lo, hi)
    sessions = queries.sessions_in(conn, [row["id"]], lo, hi, now)[row["id"]]
    intervals = build_timeline(spans, lo, hi)
    return [figures for _, figures in usage_by_buckets(intervals, sessions, policy, buckets)]


def usage_by_day_cached(  # noqa: PLR0917 - callers pass the period positionally
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    start: float,
    end: float,
    now: float,
) -> list[tuple[Bucket, UsageFigures]]:
    """Per-day figures of one instrument; clean roll-ups for whole closed days, live otherwise."""
    zone = ZoneInfo(config.site.timezone)
    days = split_by_day(start, end, zone)
    today_start = _today_start(now, zone)
    whole = {
        b.key for b in days if b.end <= today_start and _day_bounds(b.key, zone) == (b.start, b.end)
    }
    stored: dict[str, UsageFigures] = {}
    if whole:
        d, dirty = tables.daily_usage, tables.dirty_days
        rows = conn.execute(
            select(d.c.day, d.c.figures).where(
                d.c.instrument_id == row["id"],
                d.c.day >= min(whole),
                d.c.day <= max(whole),
                ~select(dirty.c.day)
                .where(and_(dirty.c.instrument_id == d.c.instrument_id, dirty.c.day == d.c.day))
                .exists(),
            )
        ).all()
        stored = {r.day: _figures(r.figures) for r in rows if r.day in whole}
    missing = [b for b in days if b.key not in stored]
    live = dict(
        zip((b.key for b in missing), live_buckets(conn, row, config, missing, now), strict=True)
    )
    return [(b, stored[b.key] if b.key in stored else live[b.key]) for b in days]


def _figures(text: str) -> UsageFigures:
    data = json.loads(text)
    return UsageFigures(**{name: float(data.get(name, 0.0)) for name in FIGURE_NAMES})


def _dump(figures: UsageFigures) -> str:
    return json.dumps({name: getattr(figures, name) for name in FIGURE_NAMES})


def refresh_rollups(
    engines: Engines, config: CollectorConfig, now: float, max_days: int = 20_000
) -> int:
    """Recompute dirty closed days and fill missing ones; returns the number of days written."""
    zone = ZoneInfo(config.site.timezone)
    today = datetime.fromtimestamp(now, zone).date().isoformat()
    with engines.read.connect() as conn:
        dirty = (
            conn.execute(
                select(tables.dirty_days).where(tables.dirty_days.c.day < today).limit(max_days)
            )
            .mappings()
            .all()
        )
        todo: dict[str, set[str]] = defaultdict(set)
        marks = {(r["instrument_id"], r["day"]): r["marked_at"] for r in dirty}
        for instrument_id, day in marks:
            todo[instrument_id].add(day)
        firsts = conn.execute(
            select(tables.spans.c.instrument_id, func.min(tables.spans.c.start)).group_by(
                tables.spans.c.instrument_id
            )
        ).all()
        have = conn.execute(
            select(
                tables.daily_usage.c.instrument_id, func.count(), func.min(tables.daily_usage.c.day)
            ).group_by(tables.daily_usage.c.instrument_id)
        ).all()
        counts = {r[0]: (int(r[1]), r[2]) for r in have}
        today_start = _today_start(now, zone)
        for instrument_id, first in firsts:
            if first >= today_start:
                continue
            days = split_by_day(first, today_start, zone)
            count, _ = counts.get(instrument_id, (0, None))
            if count >= len(days):
                continue
            present = set(
                conn.execute(
                    select(tables.daily_usage.c.day).where(
                        tables.daily_usage.c.instrument_id == instrument_id
                    )
                ).scalars()
            )
            todo[instrument_id].update(b.key for b in days if b.key not in present)
        written = 0
        results: list[dict[str, Any]] = []
        for instrument_id, day_keys in todo.items():
            row = queries.get_instrument(conn, instrument_id)
            if row is None:
                continue
            keys = sorted(day_keys)[: max(0, max_days - written)]
            if not keys:
                break
            lo = _day_bounds(keys[0], zone)[0]
            hi = _day_bounds(keys[-1], zone)[1]
            wanted = [b for b in split_by_day(lo, hi, zone) if b.key in day_keys]
            for bucket, figures in zip(
                wanted, live_buckets(conn, row, config, wanted, now), strict=True
            ):
                results.append(
                    {"instrument_id": instrument_id, "day": bucket.key, "figures": _dump(figures)}
                )
            written += len(wanted)
    if not results:
        return 0
    with engines.write.begin() as conn:
        stmt = upsert(conn, tables.daily_usage)
        for values in results:
            conn.execute(
                stmt.values(computed_at=now, **values).on_conflict_do_update(
                    index_elements=["instrument_id", "day"],
                    set_={"figures": values["figures"], "computed_at": now},
                )
            )
        # Only marks not renewed while we computed are cleared (late data keeps its mark).
        dd = tables.dirty_days
        for (instrument_id, day), marked_at in marks.items():
            conn.execute(
                delete(dd).where(
                    dd.c.instrument_id == instrument_id,
                    dd.c.day == day,
                    dd.c.marked_at <= marked_at,
                )
            )
    return len(results)


def _day_bounds(key: str, zone: ZoneInfo) -> tuple[float, float]:
    day = datetime.fromisoformat(key).replace(tzinfo=zone)
    return day.timestamp(), (day + timedelta(days=1)).replace(tzinfo=zone).timestamp()


def _today_start(now: float, zone: ZoneInfo) -> float:
    return _day_bounds(datetime.fromtimestamp(now, zone).date().isoformat(), zone)[0]
