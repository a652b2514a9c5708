"""One known day behind a real collector's API (in process, clock fixed), shared by the API
and console tests: ``nmr`` runs 08:00-10:00, idles 10:00-10:05, runs 10:05-11:00 and idles
11:00-12:00 on 2025-06-15 (site time, minute heartbeats); ``sem`` only announced itself."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from jishi.collector.ledger.db import Engines
from jishi.collector.service import start_collector

from support import messages as h
from support.ledger import feed, make_config, make_pipeline

DAY0 = 1_749_916_800.0  # 2025-06-15 00:00 Asia/Shanghai
NOW = DAY0 + 86400 + 3600  # 2025-06-16 01:00
ADMIN = {"Authorization": "Bearer adm1n"}


def day_messages() -> list[tuple[str, bytes]]:
    msgs = [h.birth("nmr", 0, DAY0, hb=60.0, name="NMR 400", unit="Analysis")]
    plan = [("running", 8 * 60, 10 * 60), ("idle", 10 * 60, 10 * 60 + 5)]
    plan += [("running", 10 * 60 + 5, 11 * 60), ("idle", 11 * 60, 12 * 60)]
    seq = 1
    for state, lo, hi in plan:
        for minute in range(lo, hi):
            msgs.append(h.hb("nmr", seq, DAY0 + minute * 60, state, interval=60))
            seq += 1
    msgs.append(h.birth("sem", 0, DAY0, boot="boot-sem-01", hb=60.0, unit="Materials"))
    return msgs


@contextmanager
def api_client(
    engines: Engines, tmp_path: Path, messages: Sequence[tuple[str, bytes]]
) -> Iterator[httpx.Client]:
    """``messages`` stored through the write path, then the collector's API (admin token
    ``adm1n``, no ingest) with its clock at ``NOW``."""
    feed(make_pipeline(engines, tmp_path, NOW), list(messages), NOW)
    config = make_config(tmp_path, database={"url": engines.url})
    collector = start_collector(config, admin_token="adm1n", ingest=False, clock=lambda: NOW)
    try:
        with httpx.Client(base_url=collector.api_url or "", timeout=30) as http:
            yield http
    finally:
        collector.stop()
