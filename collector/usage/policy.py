"""Usage policy: the tunable rules of the usage arithmetic (DESIGN.md, "Usage arithmetic")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

# Ministry of Education 定额机时 (yearly quota hours) by instrument category (DESIGN.md).
GENERAL_QUOTA_H = 1400.0
SPECIALISED_QUOTA_H = 800.0
QUOTA_H_BY_CATEGORY: dict[str, float] = {
    "general": GENERAL_QUOTA_H,
    "specialised": SPECIALISED_QUOTA_H,
}
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_MERGE_GAP_S = 600.0


def quota_h_for_category(category: str) -> float:
    """The default yearly quota in hours for ``general`` or ``specialised`` instruments."""
    try:
        return QUOTA_H_BY_CATEGORY[category]
    except KeyError:
        known = ", ".join(sorted(QUOTA_H_BY_CATEGORY))
        raise ValueError(f"unknown instrument category {category!r} (expected {known})") from None


@dataclass(frozen=True, slots=True)
class Policy:
    """Rules for one instrument's usage figures.

    ``merge_gap_s``: idle gaps strictly shorter than this between two running intervals count
    as effective. ``prep_window_s`` / ``post_window_s``: idle time within this long before the
    start / after the end of a running interval counts as effective. ``quota_h_per_year``: the
    yearly quota (定额机时) that ``utilization`` is measured against, prorated to the period.
    ``timezone``: the site time zone for day, month and year boundaries.
    """

    merge_gap_s: float = DEFAULT_MERGE_GAP_S
    prep_window_s: float = 0.0
    post_window_s: float = 0.0
    quota_h_per_year: float = GENERAL_QUOTA_H
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        for name in ("merge_gap_s", "prep_window_s", "post_window_s", "quota_h_per_year"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"policy {name} must be a finite number >= 0, got {value!r}")
        ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError (a KeyError) for a bad name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def context_s(self) -> float:
        """How far beyond a period the timeline must reach for the rules to judge its edges.

        An idle gap that crosses a period boundary is judged by its full length, and a running
        interval just outside the period can credit idle inside it through the prep/post
        windows; so callers load ``[start - context_s, end + context_s)`` and let
        :func:`jishi.collector.usage.compute_usage` clip.
        """
        return max(self.merge_gap_s, self.prep_window_s, self.post_window_s)

    @classmethod
    def for_category(cls, category: str, **overrides: object) -> Policy:
        """A policy with the category's default quota; keyword arguments override fields."""
        fields: dict[str, object] = {"quota_h_per_year": quota_h_for_category(category)}
        fields.update(overrides)
        # The overrides are checked against the fields by the dataclass itself, at run time.
        return cls(**fields)  # type: ignore[arg-type]  # keyword overrides of mixed types
