"""Report settings (``[reports]`` in collector.toml) and the national-platform mapping (data).

The mapping from jishi's figures and record fields to the platform's names lives in
``platform.json`` beside this module; ``[reports.platform]`` in collector.toml may replace single
entries, so a changed platform interface is a config change, not a code change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jishi.collector.usage.engine import FIGURE_NAMES

# Figures a yearly platform field may be mapped from (UsageFigures.as_dict keys + availability).
FIGURE_KEYS = frozenset(
    key for name in FIGURE_NAMES for key in (name, name.removesuffix("_s") + "_h")
) | {"completeness", "utilization", "share_rate", "availability"}
# Fields of a service record a platform field may be mapped from (records.ServiceRecord).
RECORD_KEYS = frozenset(
    {
        "inner_id",
        "instrument",
        "instrument_name",
        "unit",
        "start",
        "end",
        "hours",
        "hours_raw",
        "service_type",
        "user_type",
        "service_way",
        "direction_code",
        "direction",
        "user",
        "org",
        "contact",
        "satisfaction",
        "sample_count",
        "session_id",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlatformConfig(_Frozen):
    """Replacements for entries of the built-in ``platform.json``."""

    yearly: dict[str, str] = Field(default_factory=dict)
    record_fields: dict[str, str] = Field(default_factory=dict)
    time_format: str | None = None

    @field_validator("yearly")
    @classmethod
    def _yearly(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_sources(
            value, FIGURE_KEYS, "figure", "use e.g. effective_h, service_h, external_service_h"
        )

    @field_validator("record_fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_sources(
            value, RECORD_KEYS, "record field", f"known: {', '.join(sorted(RECORD_KEYS))}"
        )


def _known_sources(
    value: dict[str, str], known: frozenset[str], what: str, hint: str
) -> dict[str, str]:
    """``value`` (platform name -> jishi source) if every source is known, else a ValueError."""
    bad = sorted(v for v in value.values() if v not in known)
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(bad)}; {hint}")
    return value


class ReportSettings(_Frozen):
    """Thresholds of the warning lists and the purchase review, instrument kinds, mapping."""

    # Low-utilization warning: effective hours below this share of the prorated quota.
    low_utilization_below: Annotated[float, Field(gt=0, le=10)] = 0.5
    # Completeness below this is listed as its own problem (missing data is not idleness).
    low_completeness_below: Annotated[float, Field(gt=0, le=1)] = 0.9
    # Purchase review: an instrument with at least this many effective hours a year is saturated.
    saturation_h_per_year: Annotated[float, Field(gt=0, le=8784)] = 1200.0
    # Reconciliation: signed-in time outside the bookings beyond this is an overrun (minutes).
    overrun_grace_min: Annotated[float, Field(ge=0, le=1440)] = 15.0
    # Instrument kinds for the purchase review: kind name -> instrument id patterns (fnmatch).
    kinds: dict[str, list[str]] = Field(default_factory=dict)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)


@dataclass(frozen=True)
class PlatformMapping:
    """The effective mapping: built-in data with the config's replacements applied."""

    yearly: dict[str, str]
    yearly_labels: dict[str, str]
    record_fields: dict[str, str]
    time_format: str
    service_type: dict[str, int]
    service_ways: dict[str, str]  # alias (lower case) -> platform name
    default_service_way: str
    directions: dict[str, tuple[str, int]]  # alias (lower case) -> (name, code)
    default_direction: tuple[str, int]

    def service_way(self, value: str | None) -> str:
        if not value:
            return self.default_service_way
        return self.service_ways.get(value.strip().lower(), self.default_service_way)

    def direction(self, value: str | None) -> tuple[str, int]:
        if not value:
            return self.default_direction
        return self.directions.get(value.strip().lower(), self.default_direction)


@cache
def _builtin() -> dict[str, Any]:
    text = resources.files("jishi.collector.reports").joinpath("platform.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def platform_mapping(settings: ReportSettings) -> PlatformMapping:
    data = _builtin()
    overrides = settings.platform
    ways = {
        alias.lower(): name for name, aliases in data["service_ways"].items() for alias in aliases
    }
    directions = {
        alias.lower(): (name, int(item["code"]))
        for name, item in data["directions"].items()
        for alias in item["aliases"]
    }
    default_direction = data["default_direction"]
    return PlatformMapping(
        yearly={**data["yearly"], **overrides.yearly},
        yearly_labels=dict(data["yearly_labels"]),
        record_fields={**data["record_fields"], **overrides.record_fields},
        time_format=overrides.time_format or data["time_format"],
        service_type={k: int(v) for k, v in data["service_type"].items()},
        service_ways=ways,
        default_service_way=data["default_service_way"],
        directions=directions,
        default_direction=(default_direction, int(data["directions"][default_direction]["code"])),
    )
