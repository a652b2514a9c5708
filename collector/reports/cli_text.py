"""``jishi report``'s errors in the reader's language (issue 19), translated where they leave
the command.

The period, lookup and report errors are raised by code the API shares (``/api/v1/reports``
answers with the same text), and an API's answers must not change with the server's locale.
So they are raised in English and the command translates them on the way out: each known
message is a pattern whose groups fill the fields of its message id (``jishi.i18n.known_phrase``).
``tests/collector/reports/test_report_messages.py`` raises each one for real, so a reworded
message that no pattern matches fails there instead of silently staying English.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jishi.collector.reports.errors import ReportError
from jishi.i18n import N_, known_phrase

PERIOD_EXPECTED = "a date or time; use ISO 8601 such as 2025-01-01 or 2025-01-01T08:00"

PHRASES = [
    (
        r"give either --year or --start/--end, not both",
        N_("give either --year or --start/--end, not both"),
    ),
    (
        r"give both --start and --end \(e\.g\. --start 2025-01-01 --end 2025-07-01\)",
        N_("give both --start and --end (e.g. --start 2025-01-01 --end 2025-07-01)"),
    ),
    (
        r"the range is inverted or empty: end \((?P<end>.*)\) must be after start "
        r"\((?P<start>.*)\)",
        N_("the range is inverted or empty: end ({end}) must be after start ({start})"),
    ),
    (r"the range may span at most 11 years", N_("the range may span at most 11 years")),
    (
        r"start \((?P<start>.*)\) is in the future \(now is (?P<now>.*)\)",
        N_("start ({start}) is in the future (now is {now})"),
    ),
    (
        r"year (?P<year>-?\d+) is in the future \(it is (?P<this>\d+) in (?P<zone>\S+)\); "
        r"the latest complete year is (?P<last>\d+)",
        N_(
            "year {year} is in the future (it is {this} in {zone}); the latest complete year "
            "is {last}"
        ),
    ),
    (
        r"year (?P<year>-?\d+) is before (?P<first>\d+); give a four-digit year like 2025",
        N_("year {year} is before {first}; give a four-digit year like 2025"),
    ),
    (
        rf"--(?P<option>\S+) (?P<text>.+) is not {PERIOD_EXPECTED}",
        N_(
            "--{option} {text} is not a date or time; use ISO 8601 such as 2025-01-01 or "
            "2025-01-01T08:00"
        ),
    ),
    # The adjustment commands pass their own ``expected``, already translated.
    (
        r"--(?P<option>\S+) (?P<text>.+?) is not (?P<expected>.+)",
        N_("--{option} {text} is not {expected}"),
    ),
    (r"this report has (?P<count>\d+) table\(s\)", N_("this report has {count} table(s)")),
    (
        r"no instrument kind (?P<kind>.+); known kinds: (?P<known>.*)",
        N_("no instrument kind {kind}; known kinds: {known}"),
    ),
    (
        r"no management unit (?P<unit>.+); known units: (?P<known>.*)",
        N_("no management unit {unit}; known units: {known}"),
    ),
    (r"no instrument\(s\) (?P<ids>.+)", N_("no instrument(s) {ids}")),
    (r"no instrument (?P<id>.+)", N_("no instrument {id}")),
    (r"no adjustment (?P<id>\d+)", N_("no adjustment {id}")),
]


def report_message(message: str) -> str:
    """A report error's message in the reader's language; an unknown one as it is."""
    return known_phrase(message, PHRASES)


@contextmanager
def in_readers_language() -> Iterator[None]:
    """Re-raise a :class:`ReportError` from the block with its message translated."""
    try:
        yield
    except ReportError as exc:
        raise type(exc)(report_message(str(exc))) from None
