"""Why a report cannot be made: bad period, unknown unit, instrument or adjustment."""

from __future__ import annotations

from jishi.errors import JishiError


class ReportError(JishiError):
    """Base of report errors; the message says what is wrong and how to fix it."""


class PeriodError(ReportError):
    """The requested period is malformed, inverted or in the future."""


class NotFoundError(ReportError):
    """An unknown management unit, instrument, kind or adjustment."""


class AdjustmentError(ReportError):
    """An adjustment that cannot be made (bad stretch, state or reason)."""
