"""Health (liveness and readiness, no token), Prometheus metrics and the dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from jishi import __version__
from jishi.agent.wire import iso_utc
from jishi.collector.api.auth import Admin, Ctx, Reader
from jishi.collector.ingest.metrics import render_prometheus
from jishi.collector.ledger import queries, tables

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/health")
def health(c: Ctx) -> JSONResponse:
    """Liveness and readiness: broker, database, ledger writes, free space and sink status,
    with ``problems`` saying in words why ``status`` is ``degraded``. No token needed."""
    problems: list[str] = []
    database = True
    try:
        with c.engines.read.connect() as conn:
            conn.execute(select(func.count()).select_from(tables.instruments)).scalar_one()
    except SQLAlchemyError as exc:
        database = False
        problems.append(f"the ledger cannot be read: {type(exc).__name__}")
    if not c.metrics.broker_connected:
        problems.append("not connected to the broker")
    clocks_off = _clocks_off(c) if database else []
    checks = {name: bool(check()) for name, check in c.checks.items()}
    sink = None if c.sink is None else c.sink.status()
    if sink is not None:
        checks["influx"] = bool(sink["healthy"])
    problems.extend(f"check {name} failed" for name, ok in checks.items() if not ok)
    write_problem = c.metrics.write_problem(c.clock())
    registry_problem = c.metrics.registry_problem(c.clock())
    problems.extend(p for p in (write_problem, registry_problem) if p is not None)
    feeds = [] if c.feeds is None else c.feeds.status()
    problems.extend(
        f"booking feed {f['name']!r} not pulled: {f['error']}" for f in feeds if not f["ok"]
    )
    free = c.engines.free_bytes()
    min_free_mb = c.config.database.min_free_mb
    space_problem = _space_problem(c, free)
    if space_problem is not None:
        problems.append(space_problem)
    status = {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "broker": {
            "connected": c.metrics.broker_connected,
            "url": c.config.mqtt.broker,
            # Another client using our client id (collector/ingest/takeover.py).
            "takeovers": c.metrics.broker_takeovers,
            "last_takeover_at": _iso(c.metrics.last_takeover_at),
        },
        "database": {"ok": database, "dialect": c.engines.dialect},
        "ledger": {
            "writes_ok": write_problem is None,
            "store_errors": c.metrics.store_errors,
            "free_mb": None if free is None else round(free / 2**20, 1),
            "min_free_mb": min_free_mb if free is not None else None,
        },
        "checks": checks,
        "sink": sink,
        # Calendar feeds of bookings ([[bookings]]): each one's last pull and its error.
        "booking_feeds": feeds,
        # Agents whose clock is off by more than ingest.clock_warn_s: their states are
        # misdated by that much (a warning, not a failure).
        "clocks_off": clocks_off,
        "version": __version__,
    }
    return JSONResponse(status, status_code=200 if database else 503)


def _space_problem(c: Ctx, free: int | None) -> str | None:
    min_free_mb = c.config.database.min_free_mb
    if free is None or free >= min_free_mb * 1024 * 1024:
        return None
    return (
        f"low free space for the ledger {c.engines.sqlite_path}: {free / 2**20:.0f} MB free, "
        f"less than database.min_free_mb = {min_free_mb:g}"
    )


def _clocks_off(c: Ctx) -> list[dict[str, Any]]:
    t = tables.instruments
    limit = c.config.ingest.clock_warn_s
    with c.engines.read.connect() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.clock_offset_s)
            .where(func.abs(t.c.clock_offset_s) > limit)
            .order_by(t.c.id)
        ).all()
    return [{"instrument": r.id, "clock_offset_s": round(r.clock_offset_s, 3)} for r in rows]


def _iso(at: float | None) -> str | None:
    return None if at is None else iso_utc(datetime.fromtimestamp(at, UTC))


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(c: Ctx, _role: Reader) -> PlainTextResponse:
    """Prometheus text: ingest rate, dead letters by reason, lag, instruments online, API
    requests stopped."""
    now = c.clock()
    with c.engines.read.connect() as conn:
        views = queries.list_instruments(conn, now)
    online = sum(1 for v in views if v["online"] and v["state"] != "unknown")
    body = render_prometheus(c.metrics, online, len(views), now) + c.abandoned.metrics_text()
    if c.sink is not None:
        body = body.rstrip("\n") + "\n" + c.sink.metrics_text()
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


@router.get("/dead-letters")
def dead_letters(
    c: Ctx, _role: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The newest refused messages with the reason (admin: payloads may hold anything)."""
    d = tables.dead_letters
    with c.engines.read.connect() as conn:
        rows = conn.execute(select(d).order_by(d.c.id.desc()).limit(limit)).mappings().all()
    return [
        {
            "id": r["id"],
            "received_at": iso_utc(datetime.fromtimestamp(r["received_at"], UTC)),
            "topic": r["topic"],
            "reason": r["reason"],
            "detail": r["detail"],
            "size": r["size"],
            "payload": r["payload"].decode("utf-8", "replace"),
        }
        for r in rows
    ]
