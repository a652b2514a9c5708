"""What a report covers (its scope) and what every report states first (its header)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jishi.collector.reports.period import ReportPeriod
from jishi.collector.reports.trail import iso_local

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ReportScope:
    """What a report covers: the period, the clock, which instruments, and a progress hook.

    Instruments are chosen by management unit, by id, or (the saturation report) by kind; a
    criterion left ``None`` does not narrow the choice.
    """

    period: ReportPeriod
    now: float
    unit: str | None = None
    instruments: Sequence[str] | None = None
    kind: str | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class ReportHeader:
    """What every report states first: its period, when it was made, the unit it is for."""

    period: ReportPeriod
    generated_at: float
    unit: str | None

    def json_header(self, report: str) -> dict[str, Any]:
        """The fields every report's JSON document opens with, ``report`` naming the report."""
        return {
            "report": report,
            "period": self.period.as_dict(),
            "generated_at": iso_local(self.generated_at, self.period.timezone),
            "unit": self.unit,
        }
