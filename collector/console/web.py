"""What every console page shares: templates, language, the sign-in cookie, headers, formats.

Signing in stores the read token itself in an HttpOnly, SameSite=Strict cookie (Secure over
https): scripts cannot read it, other sites' pages cannot send it, and every request checks it
again through the API's token check (a revoked token stops working at once). Forms that change
something (sign-in, sign-out) carry a per-browser random value that must equal a second
SameSite=Strict cookie, so a page elsewhere cannot post them. Nothing puts the token in a URL
or a log line.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import jinja2
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from jishi.collector.api.auth import ApiContext, token_role
from jishi.collector.api.bounded import Check
from jishi.collector.console.catalog import LANG_COOKIE, Words, choose

T = TypeVar("T")
SESSION_COOKIE = "jishi_session"
CSRF_COOKIE = "jishi_csrf"
MAX_FORM_BYTES = 4096
# No inline script or style anywhere: the pages' only script and stylesheet are the
# collector's own files, and no page may be framed (clickjacking).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(resources.files(__package__) / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequired(Exception):  # noqa: N818 - a redirect, not a mistake
    """Raised by :func:`signed_in` without a valid cookie: the app answers with the sign-in
    page's address (a redirect) for pages, 401 for the fleet's refresh."""


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def signed_in(request: Request) -> str:
    """A dependency: the role of the token in the session cookie (read or higher)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInRequired
    try:
        return token_role(ctx_of(request), token, "read")
    except HTTPException:
        raise SignInRequired from None


def words_for(request: Request) -> Words:
    return Words(
        choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", ""))
    )


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=is_https(request), path="/"
    )


def csrf_value(request: Request) -> str:
    """This browser's form check value (from its cookie, or a new one that
    :func:`page` sets)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def csrf_ok(request: Request, sent: str) -> bool:
    held = request.cookies.get(CSRF_COOKIE, "")
    return bool(held) and hmac.compare_digest(held.encode(), sent.encode())


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (sign-in, sign-out), refused beyond ``MAX_FORM_BYTES``."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, detail="form too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def local_path(value: str | None) -> str:
    """Where to go after signing in or switching language: a path of this site only."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    # Browsers drop tabs and line breaks from addresses: "/\t/evil" would become "//evil".
    if any(ch <= " " or ch == "\x7f" for ch in value):
        return "/"
    return value


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page in the request's language with the console's headers and the form cookie."""
    words = words_for(request)
    csrf = csrf_value(request)
    ctx = ctx_of(request)
    html = _env.get_template(template).render(
        t=words,
        lang=words.lang,
        csrf=csrf,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        timezone=ctx.config.site.timezone,
        **values,
    )
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if request.cookies.get(CSRF_COOKIE) != csrf:
        set_cookie(request, response, CSRF_COOKIE, csrf)
    return response


def fragment(template: str, words: Words, **values: Any) -> Markup:
    """Part of a page in ``words``' language, rendered anywhere (the fleet's rows are rendered
    in the worker thread: 10,000 rows would hold up the event loop)."""
    html = _env.get_template(template).render(t=words, lang=words.lang, **values)
    return Markup(html)  # noqa: S704 - rendered by the autoescaping templates


class Formats:
    """Numbers and times as every page shows them (site time zone, hours to 2 decimals)."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)

    def when(self, epoch: float | None, never: str = "—") -> str:
        if epoch is None:
            return never
        return datetime.fromtimestamp(epoch, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def when_iso(self, text: str | None) -> str:
        """An ISO 8601 time (the API's, UTC) in the site time zone."""
        return self.when(None if text is None else datetime.fromisoformat(text).timestamp())

    @staticmethod
    def hours(seconds: float | None) -> str:
        return "—" if seconds is None else f"{seconds / 3600:.2f}"

    @staticmethod
    def pct(ratio: float | None) -> str:
        return "—" if ratio is None else f"{ratio * 100:.1f}%"

    @staticmethod
    def duration(seconds: float) -> str:
        whole = round(seconds)
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}"


def error_page(request: Request, exc: HTTPException) -> HTMLResponse:
    """The API's refusal (a bad parameter, over the time budget, not found) as a page."""
    return page(request, "error.html", exc.status_code, detail=str(exc.detail))


async def bounded(request: Request, work: Callable[[Check], T], advice: str) -> T | HTMLResponse:
    """``work(check)`` under the API's time budget (api/bounded.py); its refusal as a page."""
    try:
        return await ctx_of(request).bounded(request, work, advice)
    except HTTPException as exc:
        return error_page(request, exc)
