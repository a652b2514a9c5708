"""One request must not stall the collector (issue 17, 4): a large session import is parsed and
written off the event loop, so the API (health included) keeps answering meanwhile; a body
over the limit is refused without being read whole."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from jishi.collector.service import start_collector

from support.ledger import make_config

ADMIN = "admin-secret-for-import-stall"
ROWS = 20_000


def big_csv() -> bytes:
    """Half-hour sessions, twenty a day from 2000 on: a few MB that take seconds to import."""
    lines = ["instrument,start,end,user,user_type"]
    for k in range(ROWS):
        day = (date(2000, 1, 1) + timedelta(days=k // 20)).isoformat()
        hour = k % 20
        start, end = f"{day}T{hour:02d}:00:00+08:00", f"{day}T{hour:02d}:30:00+08:00"
        lines.append(f"nmr-1,{start},{end},user-{k},internal")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_health_answers_while_a_large_import_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path, instruments=[{"id": "nmr-1"}])
    collector = start_collector(config, admin_token=ADMIN, ingest=False)
    body = big_csv()
    done: dict[str, float | int] = {}
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "text/csv"}

    def run_import() -> None:
        response = httpx.post(
            f"{collector.api_url}/api/v1/sessions/import",
            content=body,
            headers=headers,
            timeout=300,
        )
        done["status"] = response.status_code
        done["at"] = time.monotonic()

    try:
        importer = threading.Thread(target=run_import)
        importer.start()
        time.sleep(0.5)  # the body is sent (loopback); the import is being parsed and written
        health = httpx.get(f"{collector.api_url}/api/v1/health", timeout=300)
        answered = time.monotonic()
        importer.join(300)
    finally:
        collector.stop()
    assert health.status_code == 200
    assert done["status"] == 200
    assert "at" in done and answered < done["at"], "health waited for the import to finish"
