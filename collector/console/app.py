"""The console on the collector's app: its routes, its static files, the sign-in redirect."""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from jishi.collector.console import figures, pages, signin
from jishi.collector.console.web import HEADERS, SignInRequired

STATIC_PATH = "/static/console"


def add_console(app: FastAPI) -> None:
    """Serve the console under ``/`` beside the API (the app's ``state.ctx`` is the API's)."""

    @app.exception_handler(SignInRequired)
    def _sign_in_first(request: Request, _exc: SignInRequired) -> Response:
        if request.url.path == "/fleet/rows":  # the page's script: it goes to sign-in itself
            return Response(status_code=401, headers=HEADERS)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(here, safe='')}", 303, headers=HEADERS)

    app.mount(
        STATIC_PATH,
        StaticFiles(directory=str(resources.files(__package__) / "static")),
        name="console-static",
    )
    for module in (signin, pages, figures):
        app.include_router(module.router)
