"""A user-directory CSV into the ledger, for ``jishi collector import-directory`` and
``POST /api/v1/directory/import`` alike: decoded (UTF-8 or GBK/GB18030, as the session import
does), parsed, stored; all rows or none, every bad row reported in one answer."""

from __future__ import annotations

from jishi.collector.ingest.directory_csv import parse_directory_csv
from jishi.collector.ingest.sessions_csv import decode_csv
from jishi.collector.ledger.db import Engines
from jishi.collector.ledger.directory import store_entries


def import_directory_csv(engines: Engines, raw: bytes, timezone: str, now: float) -> int:
    """Store every row of ``raw`` as a directory entry (by account); returns how many. Raises
    :class:`~jishi.collector.ledger.session_input.SessionImportError` listing every bad row
    and stores nothing then."""
    return store_entries(engines, parse_directory_csv(decode_csv(raw)), now, timezone)
