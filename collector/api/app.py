"""The REST API application (FastAPI) under ``/api/v1``: one router per area.

Route handlers are plain ``def`` functions (FastAPI runs them in its thread pool) that call the
read-side queries and the pure usage engine; nothing here parses MQTT or writes spans. The
routes that can run long are ``async`` and hand their work to the thread pool themselves: usage
and reports through api/bounded.py, which stops it over its time budget or when the client
leaves; the session import once its body is read.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from jishi import __version__
from jishi.collector.api import bookings, health, instruments, reports, sessions, usage
from jishi.collector.api.auth import ApiContext
from jishi.collector.api.docs_pages import add_offline_docs

# What every route may answer besides its success, in the OpenAPI document as well (a client
# generated from it must expect them). 422: a parameter or body of the wrong type or shape
# (FastAPI's validation); 400: well-formed but not meaningful (an inverted range, a date that
# cannot be read, a year in the future, a timeline too long); 503: also a usage or report
# request stopped over its budget (api/bounded.py).
ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Bad request: the detail says which parameter and why"},
    401: {"description": "No bearer token, or an unknown one"},
    403: {"description": "The token's role does not allow this"},
    404: {
        "description": "No such instrument, management unit, report, adjustment or directory "
        "account"
    },
    503: {
        "description": "The ledger database is unavailable, or the request ran over its time "
        "budget (api.max_request_s; the detail says what to ask instead) and was stopped"
    },
}


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="jishi collector",
        version=__version__,
        description="Instrument states, timelines and usage figures (机时) from the jishi ledger.",
        docs_url=None,  # /docs and /redoc with assets served here, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    add_offline_docs(app, openapi_url="/openapi.json")
    app.state.ctx = ctx

    @app.exception_handler(SQLAlchemyError)
    def _db_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": f"ledger unavailable: {type(exc).__name__}"}, 503)

    for module in (health, instruments, usage, sessions, bookings, reports):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    return app
