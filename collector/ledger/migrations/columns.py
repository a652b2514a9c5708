"""Column types the migrations share: times are epoch seconds in double precision everywhere."""

from __future__ import annotations

import sqlalchemy as sa

EPOCH = sa.Float(precision=53)

# The usage figures a roll-up row stores (revision 0007), one column each, in seconds.
ROLLUP_FIGURES = (
    "period_s",
    "running_s",
    "idle_s",
    "off_s",
    "fault_s",
    "maintenance_s",
    "unknown_s",
    "effective_s",
    "service_s",
    "external_service_s",
    "quota_s",
)
