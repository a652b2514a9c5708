"""The REST API application (FastAPI) under ``/api/v1``: one router per area.

Route handlers are plain ``def`` functions (FastAPI runs them in its thread pool) that call the
read-side queries and the pure usage engine; nothing here parses MQTT or writes spans.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from jishi import __version__
from jishi.collector.api import health, instruments, reports, sessions, usage
from jishi.collector.api.auth import ApiContext


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

    for module in (health, instruments, usage, sessions, reports):
        app.include_router(module.router)
    return app
