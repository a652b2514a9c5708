"""Figures of time without any observation, in O(1) per stretch (issue 18).

A calendar piece that no stored span reaches is unknown from end to end: the engine gives it
``period_s = unknown_s = its length``, its prorated quota, and zero for every other figure (no
state, so no running, no idle to credit, nothing inside sessions). A fleet query over years
meets such pieces by the million (instruments before their first observation, instruments that
went silent), so they are summed here with prefix sums over the period's buckets instead of
being run through the engine one by one: a stretch ``buckets[i:j]`` costs two subtractions.

Pure arithmetic on the buckets of :mod:`jishi.collector.usage.periods`; equal to the engine's
figures for those buckets up to the order of float additions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from zoneinfo import ZoneInfo

from jishi.collector.usage.engine import UsageFigures
from jishi.collector.usage.periods import Bucket, prorated_quota_s


class EmptyStretches:
    """Sums of unobserved stretches of a period cut into ``buckets`` (sorted, disjoint).

    ``stretch(i, j, quota_h)`` gives the figures of ``buckets[i:j]`` for an instrument with a
    yearly quota of ``quota_h`` hours. ``add(i, j, quota_h)`` tallies a stretch for
    :meth:`per_bucket`, which spreads all tallied stretches back over the buckets (for figures
    grouped by day or month) in one pass over the buckets, however many stretches there were.
    """

    def __init__(self, buckets: Sequence[Bucket], tz: ZoneInfo | str) -> None:
        self.buckets = list(buckets)
        self._lengths = [b.duration_s for b in self.buckets]
        # The quota each bucket earns per hour of yearly quota (prorated as the engine does).
        self._per_quota_h = [prorated_quota_s(1.0, b.start, b.end, tz) for b in self.buckets]
        self._length_sums = [0.0, *accumulate(self._lengths)]
        self._quota_sums = [0.0, *accumulate(self._per_quota_h)]
        n = len(self.buckets)
        self._count_steps = [0] * (n + 1)
        self._quota_steps = [0.0] * (n + 1)

    def stretch(self, i: int, j: int, quota_h: float) -> UsageFigures:
        """The figures of ``buckets[i:j]`` left unobserved."""
        length = self._length_sums[j] - self._length_sums[i]
        quota = quota_h * (self._quota_sums[j] - self._quota_sums[i])
        return UsageFigures(period_s=length, unknown_s=length, quota_s=quota)

    def add(self, i: int, j: int, quota_h: float) -> None:
        """Tally ``buckets[i:j]`` of one instrument as unobserved (see :meth:`per_bucket`)."""
        if j <= i:
            return
        self._count_steps[i] += 1
        self._count_steps[j] -= 1
        self._quota_steps[i] += quota_h
        self._quota_steps[j] -= quota_h

    def per_bucket(self, key: Callable[[Bucket], str]) -> dict[str, UsageFigures]:
        """The tallied stretches summed per ``key(bucket)``."""
        out: dict[str, UsageFigures] = {}
        count, quota_h = 0, 0.0
        for k, bucket in enumerate(self.buckets):
            count += self._count_steps[k]
            quota_h += self._quota_steps[k]
            if count <= 0:
                continue
            length = count * self._lengths[k]
            part = UsageFigures(
                period_s=length, unknown_s=length, quota_s=quota_h * self._per_quota_h[k]
            )
            name = key(bucket)
            out[name] = out[name] + part if name in out else part
        return out
