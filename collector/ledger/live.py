"""Usage figures computed live from the stored spans and sessions, for many instruments at once.

The engine (:mod:`jishi.collector.usage.engine`) is pure; this module loads what it needs.
Each instrument's wanted buckets are cut into runs of adjacent buckets; instruments whose runs
are the same stretch (today, for a whole fleet) are loaded together, a few hundred per query,
with the rules' context (``Policy.context_s``) on both sides of the run. A run's figures equal
those of a query over the whole period, as daily roll-ups already rely on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from jishi.collector.config import CollectorConfig
from jishi.collector.ledger import queries
from jishi.collector.usage.engine import UsageFigures, usage_by_buckets
from jishi.collector.usage.periods import Bucket
from jishi.collector.usage.policy import Policy, quota_h_for_category
from jishi.collector.usage.timeline import build_timeline

# Instruments per query: many for short runs, fewer for long ones (spans held at once).
_MAX_IDS = 500
_BUCKETS_PER_QUERY = 20_000
# A stretch starting this close to now is read by span ends (few end later than its start).
_RECENT_S = 90 * 86_400.0

Check = Callable[[], None]


def policy_for(row: Mapping[str, Any], config: CollectorConfig) -> Policy:
    """The usage rules of one instrument: the site's, with its own or its category's quota."""
    category = row["category"] if row["category"] in ("general", "specialised") else "general"
    return Policy(
        merge_gap_s=config.policy.merge_gap_s,
        prep_window_s=config.policy.prep_window_s,
        post_window_s=config.policy.post_window_s,
        quota_h_per_year=row["quota_h"] or quota_h_for_category(category),
        timezone=config.site.timezone,
    )


class Policies:
    """Each instrument's rules, made once per distinct category and quota (a fleet has few)."""

    def __init__(self, config: CollectorConfig) -> None:
        self.config = config
        self._made: dict[tuple[Any, Any], Policy] = {}

    def __call__(self, row: Mapping[str, Any]) -> Policy:
        key = (row["category"], row["quota_h"])
        policy = self._made.get(key)
        if policy is None:
            policy = self._made[key] = policy_for(row, self.config)
        return policy


def live_buckets(
    conn: Connection,
    row: Mapping[str, Any],
    config: CollectorConfig,
    buckets: Sequence[Bucket],
    now: float,
) -> list[UsageFigures]:
    """Figures per bucket of one instrument computed from its spans and sessions (no roll-ups)."""
    if not buckets:
        return []
    policy = policy_for(row, config)
    lo = buckets[0].start - policy.context_s
    hi = buckets[-1].end + policy.context_s
    spans = queries.coverage(conn, row["id"], lo, hi)
    sessions = queries.sessions_in(conn, [row["id"]], lo, hi, now)[row["id"]]
    intervals = build_timeline(spans, lo, hi)
    return [figures for _, figures in usage_by_buckets(intervals, sessions, policy, buckets)]


def runs(buckets: Sequence[Bucket]) -> list[list[Bucket]]:
    """``buckets`` (sorted) cut where one does not start where the one before ended."""
    out: list[list[Bucket]] = []
    for bucket in buckets:
        if out and out[-1][-1].end == bucket.start:
            out[-1].append(bucket)
        else:
            out.append([bucket])
    return out


def live_many(
    conn: Connection,
    rows: Mapping[str, Mapping[str, Any]],
    config: CollectorConfig,
    wanted: Mapping[str, Sequence[Bucket]],
    now: float,
    *,
    check: Check | None = None,
) -> Iterator[tuple[str, Bucket, UsageFigures]]:
    """``(instrument, bucket, figures)`` for every bucket in ``wanted`` (by instrument id)."""
    policies = Policies(config)
    stretches: dict[tuple[float, float], list[tuple[str, list[Bucket]]]] = defaultdict(list)
    for instrument_id, buckets in wanted.items():
        for run in runs(buckets):
            stretches[(run[0].start, run[-1].end)].append((instrument_id, run))
    for (start, end), members in stretches.items():
        per_query = max(1, min(_MAX_IDS, _BUCKETS_PER_QUERY // len(members[0][1])))
        context = policies(rows[members[0][0]]).context_s  # the site's rules: shared
        lo, hi = start - context, end + context
        for k in range(0, len(members), per_query):
            if check is not None:
                check()
            chunk = members[k : k + per_query]
            ids = [instrument_id for instrument_id, _ in chunk]
            recent = now - lo < _RECENT_S
            spans = queries.coverage_many(conn, ids, lo, hi, recent=recent)
            sessions = queries.sessions_in(conn, ids, lo, hi, now, recent=recent)
            for instrument_id, run in chunk:
                policy = policies(rows[instrument_id])
                intervals = build_timeline(spans[instrument_id], lo, hi)
                for bucket, figures in usage_by_buckets(
                    intervals, sessions[instrument_id], policy, run
                ):
                    yield instrument_id, bucket, figures
