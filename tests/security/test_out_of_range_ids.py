"""Ids beyond the database's integers (issue 17, 6): a clear 404 or "no such token", not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jishi.collector.api.tokens import TokenError, TokenStore
from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.service import start_collector

from support.ledger import make_config

ADMIN = "admin-secret-for-ids-0001"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    config = make_config(tmp_path, instruments=[{"id": "nmr-1"}])
    collector = start_collector(config, admin_token=ADMIN, ingest=False)
    try:
        with httpx.Client(
            base_url=str(collector.api_url), headers={"Authorization": f"Bearer {ADMIN}"}
        ) as client:
            yield client
    finally:
        collector.stop()


@pytest.mark.parametrize("ident", ["0", "9223372036854775807", "9223372036854775808", "99" * 20])
def test_revoking_an_adjustment_that_cannot_exist_is_not_found(
    api: httpx.Client, ident: str
) -> None:
    response = api.post(
        f"/api/v1/reports/adjustments/{ident}/revoke", json={"reason": "test", "by": "ops"}
    )
    assert response.status_code == 404, response.text
    assert "no adjustment" in response.json()["detail"]


def test_revoking_a_token_by_a_huge_id_says_there_is_none(tmp_path: Path) -> None:
    engines = open_engines(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    migrate(engines)
    with pytest.raises(TokenError, match="no active token"):
        TokenStore(engines).revoke("9" * 30)
    engines.dispose()
