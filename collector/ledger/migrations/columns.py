"""Column types the migrations share: times are epoch seconds in double precision everywhere."""

from __future__ import annotations

import sqlalchemy as sa

EPOCH = sa.Float(precision=53)
