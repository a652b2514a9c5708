"""The REST API (FastAPI) under ``/api/v1``: instruments, timelines, usage, sessions, health.

Route handlers are plain ``def`` functions (FastAPI runs them in its thread pool) that call the
read-side queries and the pure usage engine; nothing here parses MQTT or writes spans.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from jishi.collector import queries, tables
from jishi.collector.config import CollectorConfig
from jishi.collector.db import Engines
from jishi.collector.metrics import IngestMetrics, render_prometheus
from jishi.collector.tokens import TokenStore, allows
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from jishi import __version__


class SinkView(Protocol):
    """What the API shows of the InfluxDB sink (``jishi.collector.sink.InfluxSink``)."""

    def status(self) -> dict[str, Any]: ...

    def metrics_text(self) -> str: ...


@dataclass
class ApiContext:
    """Everything the routes need, injected (no globals, no environment reads)."""

    config: CollectorConfig
    engines: Engines
    tokens: TokenStore
    metrics: IngestMetrics
    clock: Callable[[], float] = time.time
    # Extra health checks by name (e.g. the InfluxDB sink): True when healthy.
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    # The InfluxDB mirror, when [influx] is configured: ``sink`` in health, jishi_sink_* metrics.
    sink: SinkView | None = None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(role: str) -> Callable[[Request], str]:
    """A dependency: the request must carry a bearer token whose role allows ``role``."""

    def check(request: Request) -> str:
        ctx: ApiContext = request.app.state.ctx
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        held = ctx.tokens.role_of(token.strip())
        if held is None:
            raise _unauthorized("unknown or revoked token")
        if not allows(held, role):
            raise HTTPException(
                403, detail=f"this route needs the {role!r} role; token has {held!r}"
            )
        return held

    return check


Reader = Annotated[str, Depends(require("read"))]


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(ctx_of)]


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="jishi collector",
        version=__version__,
        description="Instrument states, timelines and usage figures (机时) from the jishi ledger.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx

    @app.exception_handler(SQLAlchemyError)
    def _db_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": f"ledger unavailable: {type(exc).__name__}"}, 503)

    @app.get("/api/v1/health")
    def health(c: Ctx) -> JSONResponse:
        """Liveness and readiness: broker, database and sink status. No token needed."""
        database = True
        try:
            with c.engines.read.connect() as conn:
                conn.execute(select(func.count()).select_from(tables.instruments)).scalar_one()
        except SQLAlchemyError:
            database = False
        checks = {name: bool(check()) for name, check in c.checks.items()}
        sink = None if c.sink is None else c.sink.status()
        if sink is not None:
            checks["influx"] = bool(sink["healthy"])
        status = {
            "status": "ok"
            if database and c.metrics.broker_connected and all(checks.values())
            else "degraded",
            "broker": {"connected": c.metrics.broker_connected, "url": c.config.mqtt.broker},
            "database": {"ok": database, "dialect": c.engines.dialect},
            "checks": checks,
            "sink": sink,
            "version": __version__,
        }
        return JSONResponse(status, status_code=200 if database else 503)

    @app.get("/api/v1/instruments")
    def instruments(c: Ctx, _role: Reader, unit: str | None = None) -> list[dict[str, Any]]:
        """Every instrument with its current state (unknown when data is not fresh)."""
        with c.engines.read.connect() as conn:
            return queries.list_instruments(conn, c.clock(), unit=unit)

    @app.get("/api/v1/instruments/{instrument_id}")
    def instrument(instrument_id: str, c: Ctx, _role: Reader) -> dict[str, Any]:
        with c.engines.read.connect() as conn:
            row = queries.get_instrument(conn, instrument_id)
        if row is None:
            raise HTTPException(404, detail=f"no instrument {instrument_id!r}")
        return queries.instrument_view(row, c.clock())

    @app.get("/api/v1/metrics", response_class=PlainTextResponse)
    def metrics(c: Ctx, _role: Reader) -> PlainTextResponse:
        """Prometheus text: ingest rate, dead letters by reason, lag, instruments online."""
        now = c.clock()
        with c.engines.read.connect() as conn:
            views = queries.list_instruments(conn, now)
        online = sum(1 for v in views if v["online"] and v["state"] != "unknown")
        body = render_prometheus(c.metrics, online, len(views), now)
        if c.sink is not None:
            body = body.rstrip("\n") + "\n" + c.sink.metrics_text()
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    from jishi.collector import api_usage

    api_usage.register(app)
    from jishi.collector import api_reports

    app.include_router(api_reports.router)
    return app
