"""Adjustments in the ledger: create, revoke, list; every change also goes to ``audit_log``.

Rows are never edited or deleted except to mark them revoked, so the trail of who corrected
what, when and why stays complete. The daily roll-ups hold raw figures and are not touched:
reports apply adjustments when they compute the adjusted figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.collector.reports.adjust import Adjustment
from jishi.collector.reports.errors import AdjustmentError, NotFoundError
from jishi.collector.usage.timeline import STATES

MAX_REASON = 2000
MAX_ACTOR = 100


def _row(r: Any) -> Adjustment:
    return Adjustment(
        id=int(r["id"]),
        instrument=r["instrument_id"],
        start=float(r["start"]),
        end=float(r["end"]),
        state=r["state"],
        reason=r["reason"],
        created_by=r["created_by"],
        created_at=float(r["created_at"]),
        revoked_at=r["revoked_at"],
        revoked_by=r["revoked_by"],
        revoke_reason=r["revoke_reason"],
    )


def _check_text(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise AdjustmentError(f"{name} must not be empty: say why the figures are corrected")
    if len(value) > limit:
        raise AdjustmentError(f"{name} is longer than {limit} characters")
    return value


def create_adjustment(
    engines: Engines,
    *,
    instrument: str,
    start: float,
    end: float,
    state: str,
    reason: str,
    actor: str,
    now: float,
) -> Adjustment:
    """Record a correction of ``[start, end)`` to ``state``; the instrument must exist."""
    if state not in STATES:
        raise AdjustmentError(f"state {state!r} is not one of {', '.join(STATES)}")
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise AdjustmentError("the stretch is inverted or empty: end must be after start")
    if start >= now:
        raise AdjustmentError("the stretch starts in the future; only the past can be corrected")
    reason = _check_text("reason", reason, MAX_REASON)
    actor = _check_text("actor", actor, MAX_ACTOR)
    with engines.write.begin() as conn:
        t = tables.instruments
        if conn.execute(select(t.c.id).where(t.c.id == instrument)).first() is None:
            raise NotFoundError(f"no instrument {instrument!r}")
        values = {
            "instrument_id": instrument,
            "start": start,
            "end": end,
            "state": state,
            "reason": reason,
            "created_by": actor,
            "created_at": now,
        }
        result = conn.execute(insert(tables.adjustments).values(**values))
        (new_id,) = result.inserted_primary_key or (0,)
        adjustment = Adjustment(id=int(new_id), **_fields(values))
        _audit(
            conn,
            adjustment,
            now=now,
            actor=actor,
            action="adjustment.create",
            instrument=instrument,
        )
    return adjustment


def revoke_adjustment(
    engines: Engines, adjustment_id: int, *, reason: str, actor: str, now: float
) -> Adjustment:
    """Mark an adjustment revoked (it stays in the ledger and in the reports' trail)."""
    if not 0 < adjustment_id < 2**63:  # no such row; the database could not even compare it
        raise NotFoundError(f"no adjustment {adjustment_id}")
    reason = _check_text("reason", reason, MAX_REASON)
    actor = _check_text("actor", actor, MAX_ACTOR)
    a = tables.adjustments
    with engines.write.begin() as conn:
        row = (
            conn.execute(select(a).where(a.c.id == adjustment_id).with_for_update())
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"no adjustment {adjustment_id}")
        if row["revoked_at"] is not None:
            raise AdjustmentError(f"adjustment {adjustment_id} is already revoked")
        conn.execute(
            update(a)
            .where(a.c.id == adjustment_id)
            .values(revoked_at=now, revoked_by=actor, revoke_reason=reason)
        )
        adjustment = _row({**row, "revoked_at": now, "revoked_by": actor, "revoke_reason": reason})
        _audit(
            conn,
            adjustment,
            now=now,
            actor=actor,
            action="adjustment.revoke",
            instrument=adjustment.instrument,
        )
    return adjustment


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["instrument"] = out.pop("instrument_id")
    return out


def _audit(
    conn: Connection, adj: Adjustment, *, now: float, actor: str, action: str, instrument: str
) -> None:
    detail = {
        "adjustment": adj.id,
        "start": adj.start,
        "end": adj.end,
        "state": adj.state,
        "reason": adj.reason,
        "revoke_reason": adj.revoke_reason,
    }
    conn.execute(
        insert(tables.audit_log).values(
            at=now,
            actor=actor,
            action=action,
            instrument_id=instrument,
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )


def list_adjustments(
    conn: Connection,
    instruments: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
) -> list[Adjustment]:
    """Adjustments (revoked ones included) of ``instruments`` overlapping ``[start, end)``."""
    a = tables.adjustments
    query = select(a).order_by(a.c.created_at, a.c.id)
    if instruments is not None:
        query = query.where(a.c.instrument_id.in_(list(instruments)))
    if end is not None:
        query = query.where(a.c.start < end)
    if start is not None:
        query = query.where(a.c.end > start)
    return [_row(r) for r in conn.execute(query).mappings()]
