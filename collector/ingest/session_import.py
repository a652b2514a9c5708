"""A booking system's session CSV into the ledger, for ``jishi collector import-sessions`` and
``POST /api/v1/sessions/import`` alike: decoded (UTF-8 or GBK/GB18030), parsed, instruments
checked, stored; all rows or none, and every bad row reported in one answer (issue 14)."""

from __future__ import annotations

from jishi.collector.ingest.sessions_csv import decode_csv, read_sessions_csv
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.session_input import SessionImportError
from jishi.collector.ledger.sessions import store_sessions, unknown_instruments


def import_sessions_csv(engines: Engines, raw: bytes, timezone: str, now: float) -> int:
    """Store every row of ``raw`` as a session (source ``import``); returns how many. Raises
    :class:`SessionImportError` listing every bad row (unparseable, or an unknown instrument)
    and stores nothing then."""
    records, problems = read_sessions_csv(decode_csv(raw), timezone)
    problems += unknown_instruments(engines, records)
    if problems:
        raise SessionImportError(sorted(problems, key=lambda p: (p[0] is None, p[0] or 0)))
    return store_sessions(engines, records, "import", now, timezone)
