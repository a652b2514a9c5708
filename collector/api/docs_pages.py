"""``/docs`` (Swagger UI) and ``/redoc`` served with their scripts and styles from the collector.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc's fonts from Google), so on
an institution's offline intranet they stay blank (issue 14). The pages here are FastAPI's, with
every asset pointing at ``/docs-assets/``, which serves the files shipped in the
``fastapi-offline`` package (pinned in the ``collector`` extra). Only its static folder is used,
not its ``FastAPI`` subclass.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# File names inside fastapi_offline/static (1.7.7).
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"


def assets_dir() -> Path:
    """The folder of the packaged Swagger UI and ReDoc files."""
    folder = files("fastapi_offline") / "static"
    if not isinstance(folder, Path):  # a zipped install (a frozen build) has no folder to serve
        raise TypeError(f"fastapi_offline's assets are not in a folder: {folder}")
    return folder


def add_offline_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve ``/docs`` and ``/redoc`` on ``app`` with same-origin assets only.

    ``app`` must be made with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are
    not registered as well."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")

    def _prefix(request: Request) -> str:
        # Behind a reverse proxy with a path prefix, the same prefix leads to the assets.
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            with_google_fonts=False,
        )
