"""Sign-in, sign-out and the language switch: the only console routes without a session."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from jishi.collector.api.auth import token_role
from jishi.collector.console.catalog import CATALOGS, LANG_COOKIE
from jishi.collector.console.web import (
    HEADERS,
    SESSION_COOKIE,
    csrf_ok,
    ctx_of,
    local_path,
    page,
    read_form,
    set_cookie,
)

router = APIRouter(include_in_schema=False)


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=HEADERS)


@router.get("/signin")
def signin_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query name
    return page(request, "signin.html", next=local_path(next), problem=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the form's value against its cookie, then the token (read role at least); on
    success the token goes into the session cookie, never into the address."""
    form = await read_form(request)
    target = local_path(form.get("next"))
    if not csrf_ok(request, form.get("csrf", "")):
        return page(request, "signin.html", 400, next=target, problem="signin_expired")
    token = form.get("token", "").strip()
    if not token:
        return page(request, "signin.html", 401, next=target, problem="signin_bad")
    try:
        token_role(ctx_of(request), token, "read")
    except HTTPException as exc:
        problem = "signin_role" if exc.status_code == 403 else "signin_bad"
        return page(request, "signin.html", 401, next=target, problem=problem)
    response = _redirect(target)
    set_cookie(request, response, SESSION_COOKIE, token)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await read_form(request)
    if not csrf_ok(request, form.get("csrf", "")):
        return page(request, "signin.html", 400, next="/", problem="signin_expired")
    response = _redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:  # noqa: A002
    response = _redirect(local_path(next))
    if code in CATALOGS:
        set_cookie(request, response, LANG_COOKIE, code)
    return response
