"""Adjustments by an admin: raw figures stay, adjusted ones change, the audit trail is kept.

Runs on SQLite and on the local PostgreSQL, with daily roll-ups refreshed first so the raw
figures come from the cached path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Row, func, select

from collector.reports import scenario as sc
from collector.reports import truth
from collector.reports.conftest import make_client
from jishi.collector.api.tokens import TokenStore
from jishi.collector.ledger import tables
from jishi.collector.ledger.db import migrate, open_engines
from jishi.collector.ledger.rollup import refresh_rollups


def _post(
    client: httpx.Client, body: dict[str, object], token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return client.post("/api/v1/reports/adjustments", json=body, headers=headers)


def test_adjustments_show_raw_adjusted_and_trail(ledger_url: str, tmp_path: Path) -> None:
    config = sc.config_for(tmp_path, ledger_url)
    engines = open_engines(ledger_url)
    migrate(engines)
    sc.load(engines, config)
    assert refresh_rollups(engines, config, sc.NOW) > 0
    with engines.read.connect() as conn:
        spans_before = conn.execute(select(tables.spans)).all()
    _info, reader = TokenStore(engines).create("viewer", "read")
    try:
        with make_client(config) as api:
            _adjust_through_the_api(api, reader)
            doc = api.get("/api/v1/reports/figures", params={"year": 2025}).json()
            usage = api.get("/api/v1/usage", params={"start": "2025-01-01", "end": "2026-01-01"})
            records = api.get(
                "/api/v1/reports/service-records",
                params={"start": "2025-01-02", "end": "2025-01-03"},
            ).json()
    finally:
        engines.dispose()
    _check_raw_and_adjusted(doc, usage.json()["results"])
    _check_trail_and_records(doc, records)
    _check_nothing_overwritten(ledger_url, spans_before)


def _adjust_through_the_api(api: httpx.Client, reader: str) -> None:
    """Four adjustments (one revoked) by the admin, a reader refused, bad ones refused."""
    a1 = {
        "instrument": "nmr-1",
        "start": "2025-03-12T00:00",
        "end": "2025-03-13T00:00",
        "state": "maintenance",
        "reason": "声明的维护：更换探头（agent 停机）",
    }
    assert _post(api, a1, reader).status_code == 403
    made = _post(api, a1)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "admin token (JISHI_ADMIN_TOKEN)"
    a2 = {
        "instrument": "xrd-1",
        "start": "2025-01-07T12:00",
        "end": "2025-01-07T13:00",
        "state": "running",
        "reason": "mis-set threshold: the 12-13 h fault was a run",
        "by": "Dr. Wang",
    }
    a4 = {
        "instrument": "nmr-1",
        "start": "2025-01-02T09:00",
        "end": "2025-01-02T10:00",
        "state": "maintenance",
        "reason": "declared calibration during the session",
    }
    a3 = {
        "instrument": "xrd-1",
        "start": "2025-01-08T00:00",
        "end": "2025-01-09T00:00",
        "state": "running",
        "reason": "typed in by mistake",
    }
    ids = [_post(api, body).json()["id"] for body in (a2, a4, a3)]
    assert (
        "/ Dr. Wang"
        in api.get("/api/v1/reports/adjustments").json()["adjustments"][1]["created_by"]
    )
    revoked = api.post(
        f"/api/v1/reports/adjustments/{ids[2]}/revoke", json={"reason": "wrong instrument"}
    )
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    again = api.post(f"/api/v1/reports/adjustments/{ids[2]}/revoke", json={"reason": "twice"})
    assert again.status_code == 400 and "already revoked" in again.json()["detail"]
    bad = [
        ({**a1, "end": "2025-03-11T00:00"}, 400, "inverted"),
        ({**a1, "instrument": "ghost"}, 404, "no instrument 'ghost'"),
        ({**a1, "state": "busy"}, 400, "state 'busy'"),
        ({**a1, "reason": ""}, 422, ""),
    ]
    for body, status, text in bad:
        response = _post(api, body)
        assert response.status_code == status, response.text
        assert text in str(response.json()["detail"])


def _check_raw_and_adjusted(doc: dict[str, Any], usage: list[dict[str, Any]]) -> None:
    """Raw figures equal the usage API and the truth; adjusted ones move by the adjustments."""
    items = {i["instrument"]: i for i in doc["instruments"]}
    for item, theirs in zip(doc["instruments"], usage, strict=True):
        assert {k: v for k, v in item["raw"].items() if k != "availability"} == {
            k: v for k, v in theirs.items() if k not in ("instrument", "name", "unit")
        }
        assert item["raw"]["effective_s"] == truth.seconds(item["instrument"])["effective_s"]
    nmr, xrd = items["nmr-1"], items["xrd-1"]
    assert nmr["adjustments"] == [1, 3] and xrd["adjustments"] == [2]
    raw, adj = nmr["raw"], nmr["adjusted"]
    assert adj["unknown_s"] == raw["unknown_s"] - 86_400
    assert adj["maintenance_s"] == raw["maintenance_s"] + 86_400 + 3600
    assert adj["running_s"] == raw["running_s"] - 3600
    for name in ("effective_s", "service_s", "external_service_s"):
        assert adj[name] == raw[name] - 3600, name
    assert adj["completeness"] == round(1 - 9 / 365, 6)
    assert nmr["platform"]["runMachine"] == round((raw["effective_s"] - 3600) / 3600, 2)
    assert xrd["adjusted"]["effective_s"] == xrd["raw"]["effective_s"] + 3600
    assert xrd["adjusted"]["fault_s"] == xrd["raw"]["fault_s"] - 3600
    assert items["sem-1"]["adjusted"] == items["sem-1"]["raw"]


def _check_trail_and_records(doc: dict[str, Any], records: dict[str, Any]) -> None:
    trail = doc["adjustments"]
    assert [(t["id"], t["active"]) for t in trail] == [(1, True), (2, True), (3, True), (4, False)]
    assert trail[3]["revoke_reason"] == "wrong instrument" and trail[3]["revoked_at"]
    first = records["records"][0]
    assert (first["serviceTime"], first["serviceAmount"]) == ("2025-01-02 08", 3.0)
    assert records["total"]["hours_raw"] == 8.5 and records["total"]["hours"] == 7.5


def _check_nothing_overwritten(url: str, spans_before: Sequence[Row[Any]]) -> None:
    # Nothing overwritten: the measured spans are untouched; every change is in the audit log.
    engines = open_engines(url)
    try:
        with engines.read.connect() as conn:
            assert conn.execute(select(tables.spans)).all() == spans_before
            actions = conn.execute(
                select(tables.audit_log.c.action, func.count()).group_by(tables.audit_log.c.action)
            ).all()
    finally:
        engines.dispose()
    assert dict(actions) == {"adjustment.create": 4, "adjustment.revoke": 1}
